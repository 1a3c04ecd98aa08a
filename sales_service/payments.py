"""The payment-provider port, the simulated provider the shop runs with until a real one is wired,
and the time limit every call to a provider runs under.

Charges are keyed by order id, as real providers key them by an idempotency key: charging an
order twice takes the money once, and a refund of an order is idempotent too.
"""

from __future__ import annotations

import asyncio
import random
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


class PaymentTimeout(PaymentUnavailable):
    """The provider did not answer in time: the charge may or may not have been taken."""

    message = "Payment provider did not answer in time"


class SimulatedPayments:
    """Approves every token but `tok_declined`; `tok_unavailable` simulates a provider outage.

    For fault tests it also fails like a real provider: each charge draws once from a seeded
    `random.Random`; a draw below `failure_rate` raises PaymentUnavailable (nothing charged), and
    one below `failure_rate + timeout_rate` takes the money and then never answers (`hang_seconds`).
    """

    DECLINED = "tok_declined"
    UNAVAILABLE = "tok_unavailable"

    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        timeout_rate: float = 0.0,
        seed: int | None = None,
        hang_seconds: float = 3600.0,
    ) -> None:
        if not (0 <= failure_rate <= 1 and 0 <= timeout_rate <= 1 and failure_rate + timeout_rate <= 1):
            raise ValueError("failure_rate and timeout_rate must be within 0..1 and add up to at most 1")
        self.failure_rate = failure_rate
        self.timeout_rate = timeout_rate
        self.hang_seconds = hang_seconds
        self.random = random.Random(seed)
        self.charges: dict[str, Charge] = {}
        self.refunds: set[str] = set()

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        draw = self.random.random()
        if token == self.UNAVAILABLE or draw < self.failure_rate:
            raise PaymentUnavailable()
        if order_id not in self.charges:
            self.charges[order_id] = Charge(token != self.DECLINED, f"sim_{order_id}")
        if draw < self.failure_rate + self.timeout_rate:
            # The worst kind of timeout: the money is taken and the answer never comes.
            await asyncio.sleep(self.hang_seconds)
        return self.charges[order_id]

    async def refund(self, order_id: str) -> bool:
        charge = self.charges.get(order_id)
        if charge is None or not charge.approved:
            return False
        self.refunds.add(order_id)
        return True


class TimedPayments:
    """A provider whose every call answers within `timeout` seconds or raises PaymentTimeout (503)."""

    def __init__(self, provider: PaymentProvider, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.provider.charge(order_id, amount, method, token)
        except TimeoutError:
            raise PaymentTimeout() from None

    async def refund(self, order_id: str) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.provider.refund(order_id)
        except TimeoutError:
            raise PaymentTimeout() from None
