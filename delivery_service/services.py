"""Delivery's use cases; each receives the store and clients it works with."""

from __future__ import annotations

from datetime import date

from delivery_service import domain
from delivery_service.clients import SalesClient
from delivery_service.domain import Delivery, DeliveryDraft, DeliveryNotFound
from delivery_service.store import DeliveryStore
from shared.clock import utcnow


async def schedule_delivery(
    store: DeliveryStore,
    sales: SalesClient,
    *,
    order_id: str,
    address: str,
    requested_date: date | None,
    business_days: int,
) -> Delivery:
    """A Pending delivery for a confirmed order that has none yet."""
    order = await sales.get_order(order_id)
    domain.check_deliverable(order)
    draft = DeliveryDraft(
        order_id=order_id,
        customer_id=order.customer_id,
        address=address,
        estimated_date=domain.estimated_date(order, requested_date, business_days),
        created_at=utcnow(),
    )
    return await store.add_delivery(draft)


async def get_delivery(store: DeliveryStore, delivery_id: str) -> Delivery:
    delivery = await store.get_delivery(delivery_id)
    if delivery is None:
        raise DeliveryNotFound()
    return delivery
