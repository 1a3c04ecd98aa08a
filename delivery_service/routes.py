"""Delivery's HTTP routes: the public deliveries under /api/deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from delivery_service import services
from delivery_service.deps import SalesDep, SettingsDep, StoreDep
from delivery_service.domain import DeliveryStatus
from delivery_service.schemas import DeliveryIn, DeliveryMoveIn, DeliveryOut
from shared.idempotency import request_key
from shared.schemas import error_responses
from shared.web import Caller, IdempotencyKey, Paging, Staff, page_headers

deliveries = APIRouter(prefix="/api/deliveries", tags=["deliveries"])
_SALES_DOWN = {
    503: "The sales service is down or answered wrongly; retry after Retry-After",
    504: "The sales service did not answer in time",
}


@deliveries.post(
    "",
    status_code=201,
    summary="Schedule a delivery",
    responses=error_responses(
        {
            400: "Invalid request, or the order does not exist (or is another customer's)",
            403: "The caller has no role",
            409: "The order is not Confirmed, or already has a delivery; "
            "or the Idempotency-Key was reused with another body",
            429: "Too many Idempotency-Keys held by this caller",
            **_SALES_DOWN,
        }
    ),
)
async def create_delivery(
    body: DeliveryIn,
    request: Request,
    response: Response,
    caller: Caller,
    store: StoreDep,
    sales: SalesDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> DeliveryOut:
    """Schedule the delivery of a confirmed order, in status Pending.

    Send `Idempotency-Key` to retry safely: a retry is answered from the delivery the key
    scheduled, as it is now."""
    delivery, replayed = await services.schedule_delivery(
        store,
        sales,
        order_id=body.order_id,
        address=body.address,
        requested_date=body.estimated_date,
        business_days=settings.business_days,
        principal=caller,
        key=await request_key(request),
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return DeliveryOut.of(delivery)


@deliveries.get(
    "",
    summary="List deliveries",
    responses=error_responses({400: "Invalid filter, limit or cursor", 403: "The caller has no role"}),
)
async def list_deliveries(
    caller: Caller,
    store: StoreDep,
    paging: Paging,
    request: Request,
    response: Response,
    order_id: Annotated[str | None, Query(max_length=64, examples=["order_1"])] = None,
    status: DeliveryStatus | None = None,
) -> dict[str, DeliveryOut]:
    """Deliveries in the order they were scheduled, keyed by id; a customer sees only its own."""
    page = await services.list_deliveries(
        store, caller, order_id=order_id, status=status, after=paging.after, limit=paging.limit
    )
    page_headers(request, response, page)
    return {delivery.delivery_id: DeliveryOut.of(delivery) for delivery in page.items}


@deliveries.get(
    "/{delivery_id}",
    summary="Get a delivery",
    responses=error_responses({403: "The caller has no role", 404: "No such delivery"}),
)
async def get_delivery(delivery_id: str, caller: Caller, store: StoreDep) -> DeliveryOut:
    return DeliveryOut.of(await services.get_delivery(store, delivery_id, caller))


@deliveries.patch(
    "/{delivery_id}",
    summary="Move a delivery to its next status",
    responses=error_responses(
        {
            400: "Invalid request: not a delivery status",
            403: "Only staff may move deliveries",
            404: "No such delivery",
            409: "The move is not allowed from the current status; or an earlier move's outcome at "
            "sales is unknown (its answer lost, sales unreachable) and this move would contradict "
            "it: refused until sales has answered, however long that takes; or sales refused to "
            "move the order (cancelled meanwhile)",
            **_SALES_DOWN,
        }
    ),
)
async def move_delivery(
    delivery_id: str,
    body: DeliveryMoveIn,
    staff: Staff,
    store: StoreDep,
    sales: SalesDep,
    settings: SettingsDep,
) -> DeliveryOut:
    """Pending → Shipped → In Transit → Delivered, or Pending → Cancelled; each move is added to
    `history`. Shipped and Delivered move the order too, and fail with 409 if sales refuses. While
    a Shipped or Delivered move waits for sales' answer, only that move may be sent again."""
    delivery = await services.move_delivery(
        store, sales, delivery_id, body.status, claim_seconds=settings.move_claim_seconds
    )
    return DeliveryOut.of(delivery)
