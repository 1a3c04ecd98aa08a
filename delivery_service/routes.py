"""Delivery's HTTP routes: the public deliveries under /api/deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from delivery_service import services
from delivery_service.deps import Sales, Settings, Store
from delivery_service.schemas import DeliveryIn, DeliveryOut
from shared.schemas import ErrorBody

deliveries = APIRouter(prefix="/api/deliveries", tags=["deliveries"])


def _error(description: str) -> dict[str, Any]:
    """An error answer in the OpenAPI description: always the contract's envelope."""
    return {"model": ErrorBody, "description": description}


@deliveries.post(
    "",
    status_code=201,
    responses={
        400: _error("Invalid request, or the order does not exist"),
        409: _error("The order is not Confirmed, or already has a delivery"),
        503: _error("The sales service is down or answered wrongly; retry after Retry-After"),
        504: _error("The sales service did not answer in time"),
    },
)
async def create_delivery(body: DeliveryIn, store: Store, sales: Sales, settings: Settings) -> DeliveryOut:
    """Schedule the delivery of a confirmed order, in status Pending."""
    delivery = await services.schedule_delivery(
        store,
        sales,
        order_id=body.order_id,
        address=body.address,
        requested_date=body.estimated_date,
        business_days=settings.business_days,
    )
    return DeliveryOut.of(delivery)


@deliveries.get("/{delivery_id}", responses={404: _error("No such delivery")})
async def get_delivery(delivery_id: str, store: Store) -> DeliveryOut:
    return DeliveryOut.of(await services.get_delivery(store, delivery_id))
