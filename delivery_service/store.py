"""Delivery's store: the interface in domain words, and its implementation on shared tables
(in memory for unit tests, journaled to a JSON file for the embedded default)."""

from __future__ import annotations

from typing import Protocol

from delivery_service.domain import Delivery, DeliveryDraft, DeliveryExists
from shared.store import Change, Tables

# deliveries: id -> delivery; orders: order id -> its delivery's id; seq: name -> last number given.
DELIVERIES, ORDERS, SEQ = "deliveries", "orders", "seq"


class DeliveryStore(Protocol):
    """Deliveries by id. Every method is atomic."""

    async def add_delivery(self, draft: DeliveryDraft) -> Delivery:
        """Store `draft` under the next id `del_<n>`; DeliveryExists if its order already has one."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class TablesDeliveryStore:
    """The delivery store on `Tables`: no awaits inside a method, so each one is atomic."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def add_delivery(self, draft: DeliveryDraft) -> Delivery:
        if self.tables.get(ORDERS, draft.order_id) is not None:
            raise DeliveryExists(draft.order_id)
        number = (self.tables.get(SEQ, DELIVERIES) or 0) + 1
        delivery = draft.as_delivery(f"del_{number}")
        changes: list[Change] = [
            (SEQ, DELIVERIES, number),
            (DELIVERIES, delivery.delivery_id, delivery.to_doc()),
            (ORDERS, delivery.order_id, delivery.delivery_id),
        ]
        self.tables.write(changes)  # one batch: the id, the delivery and the order's claim, or none
        return delivery

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        doc = self.tables.get(DELIVERIES, delivery_id)
        return Delivery.from_doc(doc) if doc else None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.tables.close()
