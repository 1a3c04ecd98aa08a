"""Delivery's domain: deliveries, the order facts they depend on, the date rule, the status moves
and their errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from shared.errors import BadRequest, Conflict, NotFound

DeliveryStatus = Literal["Pending", "Shipped", "In Transit", "Delivered", "Cancelled"]
OrderMove = Literal["Shipped", "Delivered"]

# Where a delivery may go from each status; nothing else, not even the same status again.
NEXT_STATUSES: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    "Pending": frozenset({"Shipped", "Cancelled"}),
    "Shipped": frozenset({"In Transit"}),
    "In Transit": frozenset({"Delivered"}),
    "Delivered": frozenset(),
    "Cancelled": frozenset(),
}
# The moves sales must accept first: the order's own status follows its delivery's.
ORDER_MOVES: dict[DeliveryStatus, OrderMove] = {"Shipped": "Shipped", "Delivered": "Delivered"}

_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class Order:
    """What delivery needs to know about a sales order."""

    order_id: str
    customer_id: str
    status: str
    created_at: datetime

    @property
    def placed_on(self) -> date:
        """The order's calendar date in UTC, the clock every service writes its timestamps in."""
        return self.created_at.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: DeliveryStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class MoveClaim:
    """A move waiting for sales' answer, made at `made_at`: until sales has answered (yes: the
    delivery moves; no: the claim is released) no contrary move may start, however long it takes."""

    to: DeliveryStatus
    token: str
    made_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryDraft:
    """A delivery that passed every rule but has no id yet; the store gives it one."""

    order_id: str
    customer_id: str
    address: str
    estimated_date: date
    created_at: datetime

    def with_id(self, delivery_id: str) -> Delivery:
        history = (StatusChange("Pending", self.created_at),)
        return Delivery(
            delivery_id,
            self.order_id,
            self.customer_id,
            self.address,
            "Pending",
            self.estimated_date,
            history,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery of one order to one address, with every status it has been in."""

    delivery_id: str
    order_id: str
    customer_id: str
    address: str
    status: DeliveryStatus
    estimated_date: date
    history: tuple[StatusChange, ...]
    claim: MoveClaim | None = None

    def moved(self, to: DeliveryStatus, at: datetime) -> Delivery:
        """In status `to` since `at`, the move appended to the history and any claim ended."""
        history = (*self.history, StatusChange(to, at))
        return dataclasses.replace(self, status=to, history=history, claim=None)

    def claimed(self, claim: MoveClaim | None) -> Delivery:
        return dataclasses.replace(self, claim=claim)

    def to_doc(self) -> dict[str, Any]:
        claim = self.claim
        return {
            "delivery_id": self.delivery_id,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "address": self.address,
            "status": self.status,
            "estimated_date": self.estimated_date.isoformat(),
            "history": [[change.status, change.at.isoformat()] for change in self.history],
            "claim": [claim.to, claim.token, claim.made_at.isoformat()] if claim else None,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Delivery:
        history = tuple(StatusChange(status, datetime.fromisoformat(at)) for status, at in doc["history"])
        raw_claim = doc.get("claim")  # absent from documents stored before moves existed
        claim = None
        if raw_claim:
            # Documents written before claims stopped expiring hold the expiry here: read as the
            # time the claim was made, it only puts the first retry a little later.
            to, token, made_at = raw_claim
            claim = MoveClaim(to, token, datetime.fromisoformat(made_at))
        return cls(
            doc["delivery_id"],
            doc["order_id"],
            doc["customer_id"],
            doc["address"],
            doc["status"],
            date.fromisoformat(doc["estimated_date"]),
            history,
            claim,
        )


class DeliveryNotFound(NotFound):
    message = "Delivery not found"


class OrderNotFound(BadRequest):
    """The order a delivery was requested for does not exist (a client error, hence 400)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} not found")


class OrderNotConfirmed(Conflict):
    """Only a confirmed order can be delivered (not a failed, cancelled or already shipped one)."""

    def __init__(self, order: Order) -> None:
        super().__init__(f"Order {order.order_id} is {order.status}, not Confirmed")


class DeliveryExists(Conflict):
    """The order already has its one delivery."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} already has a delivery")


class AlreadyScheduled(Conflict):
    """The Idempotency-Key is bound to a delivery already: answer from that delivery."""

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"Delivery {delivery_id} was scheduled with this Idempotency-Key")
        self.delivery_id = delivery_id


class MoveRefused(Conflict):
    """The delivery's status does not allow the move."""

    def __init__(self, current: DeliveryStatus, to: DeliveryStatus) -> None:
        super().__init__(f"Cannot change delivery status from {current} to {to}")


class MoveInProgress(Conflict):
    """Another move is waiting for sales' answer; this one would contradict it (409 until sales
    has answered, whatever the time)."""

    def __init__(self, delivery: Delivery) -> None:
        to = delivery.claim.to if delivery.claim else delivery.status
        super().__init__(f"Delivery {delivery.delivery_id} is being moved to {to}; try again later")


class OrderMoveRefused(Conflict):
    """Sales would not move the order along with its delivery (cancelled meanwhile, or gone)."""


def check_deliverable(order: Order) -> None:
    if order.status != "Confirmed":
        raise OrderNotConfirmed(order)


def check_move(current: DeliveryStatus, to: DeliveryStatus) -> None:
    """MoveRefused unless `to` is one of the statuses `current` may go to."""
    if to not in NEXT_STATUSES[current]:
        raise MoveRefused(current, to)


def check_turn(delivery: Delivery, expected: DeliveryStatus, to: DeliveryStatus) -> None:
    """The compare-and-set rule of a move from `expected`, checked against the stored delivery.

    MoveRefused when another move changed the status first; MoveInProgress while a claim for
    another status holds it: a claim never lapses, since sales may have applied its move. A claim
    for the same status does not block: sales' move repeats harmlessly, so a retry may take it
    over (or finish it).
    """
    if delivery.status != expected:
        raise MoveRefused(delivery.status, to)
    check_move(expected, to)
    claim = delivery.claim
    if claim is not None and claim.to != to:
        raise MoveInProgress(delivery)


def add_business_days(start: date, days: int) -> date:
    """`start` moved `days` weekdays forward, skipping Saturdays and Sundays (no holidays)."""
    if days < 0:
        raise ValueError("days must be 0 or more")
    day = start
    for _ in range(days):
        day += timedelta(days=1)
        while day.weekday() >= _SATURDAY:
            day += timedelta(days=1)
    return day


def estimated_date(order: Order, requested: date | None, business_days: int) -> date:
    """The date the client asked for, else the order's date plus `business_days`."""
    return requested if requested is not None else add_business_days(order.placed_on, business_days)
