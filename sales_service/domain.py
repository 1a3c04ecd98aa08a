"""Sales' domain: orders, their statuses, and the errors the ordering rules raise."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.errors import AppError, BadRequest, Conflict, NotFound, ServiceUnavailable

OrderStatus = Literal["Pending", "Confirmed", "Shipped", "Delivered", "Cancelled", "Failed"]
PaymentStatus = Literal["Pending", "Paid", "Declined", "Refunded"]
PaymentMethod = Literal["credit_card", "debit_card", "paypal"]
# The most an order may cost: what the contract's money (12 digits, 2 of them decimals) can carry.
MAX_TOTAL = Decimal("9999999999.99")


@dataclass(frozen=True, slots=True)
class OrderLine:
    book_id: str
    quantity: int
    unit_price: Decimal | None = None  # known once inventory has priced and held the line


@dataclass(frozen=True, slots=True)
class Order:
    """A customer's order; `Pending` while the saga runs, then `Confirmed` or `Failed`."""

    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    payment_method: PaymentMethod
    created_at: datetime
    status: OrderStatus = "Pending"
    payment_status: PaymentStatus = "Pending"

    @property
    def total_amount(self) -> Decimal:
        return sum((line.unit_price or Decimal(0)) * line.quantity for line in self.lines) or Decimal("0.00")

    @property
    def unsettled(self) -> bool:
        """A saga still to finish: being placed, or cancelled with the refund not yet given."""
        return self.status == "Pending" or (self.status == "Cancelled" and self.payment_status == "Paid")

    def with_id(self, order_id: str) -> Order:
        return dataclasses.replace(self, order_id=order_id)

    def wanted(self) -> dict[str, int]:
        return {line.book_id: line.quantity for line in self.lines}

    def priced(self, prices: dict[str, Decimal]) -> Order:
        lines = tuple(dataclasses.replace(line, unit_price=prices[line.book_id]) for line in self.lines)
        return dataclasses.replace(self, lines=lines)

    def moved(self, status: OrderStatus, payment_status: PaymentStatus | None = None) -> Order:
        return dataclasses.replace(self, status=status, payment_status=payment_status or self.payment_status)

    def to_doc(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "lines": [
                [ln.book_id, ln.quantity, None if ln.unit_price is None else str(ln.unit_price)]
                for ln in self.lines
            ],
            "payment_method": self.payment_method,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "payment_status": self.payment_status,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Order:
        lines = tuple(OrderLine(b, q, None if p is None else Decimal(p)) for b, q, p in doc["lines"])
        return cls(
            doc["order_id"],
            doc["customer_id"],
            lines,
            doc["payment_method"],
            datetime.fromisoformat(doc["created_at"]),
            doc["status"],
            doc["payment_status"],
        )


def merge_lines(lines: list[tuple[str, int]]) -> tuple[OrderLine, ...]:
    """Lines for the same book are added together, in the order each book first appears."""
    merged: dict[str, int] = {}
    for book_id, quantity in lines:
        merged[book_id] = merged.get(book_id, 0) + quantity
    return tuple(OrderLine(book_id, quantity) for book_id, quantity in merged.items())


# Where an order may move from, for each status it can be moved to after it was placed.
MOVES_FROM: dict[OrderStatus, frozenset[OrderStatus]] = {
    "Cancelled": frozenset({"Confirmed"}),
    "Shipped": frozenset({"Confirmed"}),
    "Delivered": frozenset({"Shipped"}),
}


def check_move(order: Order, to: OrderStatus) -> bool:
    """Whether `order` moves to `to` (False: it is already there); OrderConflict if it may not."""
    if order.status == to:
        return False
    if order.status not in MOVES_FROM.get(to, frozenset()):
        raise OrderConflict(order, to)
    return True


class OrderConflict(Conflict):
    """The order's status does not allow the move."""

    def __init__(self, order: Order, to: OrderStatus) -> None:
        if to == "Cancelled" and order.status in ("Shipped", "Delivered"):
            message = f"Order {order.order_id} has shipped and can no longer be cancelled"
        else:
            message = f"Order {order.order_id} is {order.status}"
        super().__init__(message)


class OrderNotFound(NotFound):
    message = "Order not found"


class OutOfStock(BadRequest):
    """Inventory could not hold every line; nothing is held and nothing is charged."""


class OrderTooLarge(BadRequest):
    """The order would cost more than MAX_TOTAL; nothing is held and nothing is charged."""

    def __init__(self, message: str | None = None) -> None:
        message = message or f"The order's total is over the most an order may cost ({MAX_TOTAL})"
        super().__init__(message, details=[{"field": "total", "message": message, "max": str(MAX_TOTAL)}])


class PaymentDeclined(AppError):
    status = 402
    message = "Payment declined"

    def __init__(self, order_id: str) -> None:
        super().__init__(extra={"order_id": order_id})


class AlreadyPlaced(Conflict):
    """The Idempotency-Key is bound to an order already: answer from that order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} was placed with this Idempotency-Key")
        self.order_id = order_id


class OrderInProgress(Conflict):
    """A retry of a request whose order is still being placed: ask again shortly."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"order_id": order_id},
        )


class OrderFailed(Conflict):
    """A retry of a request whose order failed (its payment could not be taken, or was refunded)."""

    def __init__(self, order: Order) -> None:
        super().__init__(
            f"Order {order.order_id} failed; payment {order.payment_status.lower()}",
            extra={"order_id": order.order_id},
        )


class HandedOver(ServiceUnavailable):
    """The saga stopped before it finished (shutdown, or it ran past its lease): recovery finishes
    the order; a retry with the same Idempotency-Key answers from it."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"Order {order_id} is being completed; retry with the same Idempotency-Key",
            retry_after=RETRY_AFTER_SECONDS,
            extra={"order_id": order_id},
        )


RETRY_AFTER_SECONDS = 2


def answer(order: Order) -> Order:
    """What a request that placed `order` gets now: the order once placed (Confirmed or later), its
    failure once Failed (402 if declined), and OrderInProgress (409, Retry-After) while Pending."""
    if order.status == "Pending":
        raise OrderInProgress(order.order_id)
    if order.status == "Failed":
        if order.payment_status == "Declined":
            raise PaymentDeclined(order.order_id)
        raise OrderFailed(order)
    return order
