"""Delivery's wire schemas: the public requests and the delivery as clients see it."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, StringConstraints

from delivery_service.domain import Delivery, DeliveryStatus
from shared.schemas import Identifier

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _written_as_iso_date(value: object) -> object:
    # pydantic alone also takes 86400 or "86400" as a date (seconds since 1970), and FastAPI validates
    # the parsed body, where Strict() would refuse every string; the contract says YYYY-MM-DD.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_written_as_iso_date)]


class DeliveryIn(BaseModel):
    """A delivery request; `estimated_delivery_date` is the original API's name for `estimated_date`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "order_1",
                    "address": "123 Main St, City, State 12345",
                    "estimated_date": "2026-12-03",
                },
                {"order_id": "order_2", "address": "9 Elm Rd, Springfield"},
            ]
        }
    )

    order_id: Annotated[Identifier, Field(examples=["order_1"])]
    address: Annotated[
        StrictStr,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        Field(examples=["123 Main St, City, State 12345"]),
    ]
    estimated_date: Annotated[
        IsoDate | None,
        Field(
            default=None,
            # When a client sends both, `estimated_date` wins.
            validation_alias=AliasChoices("estimated_date", "estimated_delivery_date"),
            description="Any calendar date; when absent, the order's date plus a number of business days.",
        ),
    ]


class DeliveryMoveIn(BaseModel):
    """The status a delivery moves to: Pending → Shipped → In Transit → Delivered, or Pending → Cancelled."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "Shipped"}, {"status": "In Transit"}, {"status": "Cancelled"}]
        },
    )

    status: DeliveryStatus


class StatusChangeOut(BaseModel):
    status: DeliveryStatus
    at: datetime


class DeliveryOut(BaseModel):
    """A delivery as the public API shows it."""

    delivery_id: str
    order_id: str
    address: str
    status: DeliveryStatus
    estimated_date: date
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        history = [StatusChangeOut(status=change.status, at=change.at) for change in d.history]
        return cls(
            delivery_id=d.delivery_id,
            order_id=d.order_id,
            address=d.address,
            status=d.status,
            estimated_date=d.estimated_date,
            history=history,
        )
