"""Sales' HTTP routes: public orders under /api/orders, what delivery needs under /internal/orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.types import Scope

from sales_service import reconcile, services
from sales_service.deps import HoldsDep, InventoryDep, PaymentsDep, SettingsDep, StoreDep
from sales_service.domain import OrderStatus
from sales_service.schemas import DeliveryMoveIn, OrderIn, OrderOut, PaymentDeclinedBody, ReconciledOut
from shared.idempotency import MAX_KEY_LENGTH, Key, request_key
from shared.lean import Headers, LeanCall, LeanRoute
from shared.principal import SUBJECT_HEADER
from shared.schemas import error_responses
from shared.web import Caller, IdempotencyKey, Paging, page_headers

orders = APIRouter(prefix="/api/orders", tags=["orders"])
internal = APIRouter(prefix="/internal/orders", tags=["internal"], include_in_schema=False)


@orders.post(
    "",
    status_code=201,
    summary="Place an order",
    responses=error_responses(
        {
            400: "Invalid order, or a book unknown or short of stock (details per book)",
            403: "A customer ordering for another customer",
            409: "Idempotency-Key reused with another body; or its order is still being placed "
            "(Retry-After, order_id), or failed (order_id)",
            429: "Too many Idempotency-Keys held by this caller",
            503: "Inventory or the payment provider is unavailable",
            504: "Inventory did not answer in time",
        }
    )
    | {402: {"model": PaymentDeclinedBody, "description": "Payment declined; the order is stored as Failed"}},
)
async def place_order(
    body: OrderIn,
    request: Request,
    response: Response,
    caller: Caller,
    store: StoreDep,
    inventory: InventoryDep,
    payments: PaymentsDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Holds the books in inventory, takes payment, then confirms. Send `Idempotency-Key` to retry
    safely: a retry is answered from the order the key placed, as it is now."""
    order, replayed = await services.place_order(
        store,
        inventory,
        payments,
        customer_id=body.customer_id,
        lines=body.lines(),
        payment_method=body.payment_method,
        payment_token=body.payment_token,
        principal=caller,
        key=await request_key(request),
        lease_seconds=settings.recovery_grace_seconds,
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderOut.of(order)


@orders.get("", summary="List orders", responses=error_responses({400: "Invalid filter, limit or cursor"}))
async def list_orders(
    caller: Caller,
    store: StoreDep,
    paging: Paging,
    request: Request,
    response: Response,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    status: OrderStatus | None = None,
) -> dict[str, OrderOut]:
    """Orders in the order they were placed, keyed by id; a customer sees only its own."""
    page = await services.list_orders(
        store, caller, customer_id=customer_id, status=status, after=paging.after, limit=paging.limit
    )
    page_headers(request, response, page)
    return {order.order_id: OrderOut.of(order) for order in page.items}


@orders.get("/{order_id}", summary="Get an order", responses=error_responses({404: "No such order"}))
async def get_order(order_id: str, caller: Caller, store: StoreDep) -> OrderOut:
    return OrderOut.of(await services.get_order(store, order_id, caller))


@orders.post(
    "/{order_id}/cancel",
    summary="Cancel an order",
    responses=error_responses(
        {
            404: "No such order",
            409: "The order has shipped, or is not confirmed",
            503: "Cancelled, but the refund completes when inventory is back",
        }
    ),
)
async def cancel_order(
    order_id: str, caller: Caller, store: StoreDep, inventory: InventoryDep, payments: PaymentsDep
) -> OrderOut:
    """Refunds the payment and returns the units to stock; cancelling again returns it unchanged."""
    return OrderOut.of(await services.cancel_order(store, inventory, payments, order_id, caller))


@internal.get("/cancelled")  # before /{order_id}, which would take it
async def cancelled_orders(
    store: StoreDep, order_id: Annotated[list[str], Query(max_length=100)]
) -> dict[str, list[str]]:
    """Which of the orders named are Cancelled (for delivery, which cancels their deliveries)."""
    return {"order_ids": await services.cancelled_among(store, order_id)}


@internal.post("/reconcile")
async def reconcile_holds(store: StoreDep, holds: HoldsDep) -> ReconciledOut:
    """Find and repair disagreement between orders and inventory's holds (an operator's call)."""
    done = await reconcile.reconcile(store, holds)
    return ReconciledOut(checked=done.checked, repaired=done.repaired, unrepaired=done.unrepaired)


@internal.get("/{order_id}")
async def get_order_internal(order_id: str, store: StoreDep) -> OrderOut:
    return OrderOut.of(await services.get_order(store, order_id))


@internal.post("/{order_id}/status")
async def move_for_delivery(order_id: str, body: DeliveryMoveIn, store: StoreDep) -> OrderOut:
    return OrderOut.of(await services.move_for_delivery(store, order_id, body.status))


# The lean twin (shared/lean.py) of `place_order`: the same use case in pure ASGI, past FastAPI's
# routing, dependency solving and response model. An Idempotency-Key longer than the header allows
# is left to the route above, which words that refusal.
def _takes_order(scope: Scope) -> bool:
    key = next((value for name, value in scope["headers"] if name == b"idempotency-key"), None)
    return key is None or len(key) <= MAX_KEY_LENGTH


async def _lean_place_order(call: LeanCall) -> tuple[int, bytes, Headers]:
    body: OrderIn = call.body
    raw_key = call.header(b"idempotency-key")
    subject = call.header(SUBJECT_HEADER.encode()) or b""
    key = None if raw_key is None else Key.of(raw_key, subject, "POST", call.scope["path"], call.raw)
    assert call.principal is not None  # the route's role asks for one
    order, replayed = await services.place_order(
        call.state.store,
        call.state.inventory,
        call.state.payments,
        customer_id=body.customer_id,
        lines=body.lines(),
        payment_method=body.payment_method,
        payment_token=body.payment_token,
        principal=call.principal,
        key=key,
        lease_seconds=call.state.settings.recovery_grace_seconds,
    )
    headers = [(b"idempotent-replayed", b"true")] if replayed else []
    return 201, OrderOut.of(order).model_dump_json().encode(), headers


LEAN = [
    LeanRoute("POST", "/api/orders", _lean_place_order, role="customer", body=OrderIn, takes=_takes_order)
]
