"""The payment-provider port and the simulated provider the shop runs with until a real one is wired.

Charges are keyed by order id, as real providers key them by an idempotency key: charging an
order twice takes the money once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from shared.errors import ServiceUnavailable


@dataclass(frozen=True, slots=True)
class Charge:
    approved: bool
    reference: str


class PaymentProvider(Protocol):
    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge: ...

    async def refund(self, order_id: str) -> bool:
        """Give back what was charged for the order; whether anything had been charged."""


class PaymentUnavailable(ServiceUnavailable):
    message = "Payment provider unavailable"


class SimulatedPayments:
    """Approves every token but `tok_declined`; `tok_unavailable` simulates a provider outage."""

    DECLINED = "tok_declined"
    UNAVAILABLE = "tok_unavailable"

    def __init__(self) -> None:
        self.charges: dict[str, Charge] = {}
        self.refunds: set[str] = set()

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        if token == self.UNAVAILABLE:
            raise PaymentUnavailable()
        if order_id not in self.charges:
            self.charges[order_id] = Charge(token != self.DECLINED, f"sim_{order_id}")
        return self.charges[order_id]

    async def refund(self, order_id: str) -> bool:
        charge = self.charges.get(order_id)
        if charge is None or not charge.approved:
            return False
        self.refunds.add(order_id)
        return True
