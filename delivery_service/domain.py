"""Delivery's domain: deliveries, the order facts they depend on, the date rule and their errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from shared.errors import BadRequest, Conflict, NotFound

DeliveryStatus = Literal["Pending", "Shipped", "In Transit", "Delivered", "Cancelled"]

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
class DeliveryDraft:
    """A delivery that passed every rule but has no id yet; the store gives it one."""

    order_id: str
    customer_id: str
    address: str
    estimated_date: date
    created_at: datetime

    def as_delivery(self, delivery_id: str) -> Delivery:
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

    def to_doc(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "address": self.address,
            "status": self.status,
            "estimated_date": self.estimated_date.isoformat(),
            "history": [[change.status, change.at.isoformat()] for change in self.history],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Delivery:
        history = tuple(StatusChange(status, datetime.fromisoformat(at)) for status, at in doc["history"])
        return cls(
            doc["delivery_id"],
            doc["order_id"],
            doc["customer_id"],
            doc["address"],
            doc["status"],
            date.fromisoformat(doc["estimated_date"]),
            history,
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


def check_deliverable(order: Order) -> None:
    if order.status != "Confirmed":
        raise OrderNotConfirmed(order)


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
