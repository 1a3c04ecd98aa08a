"""Sales' HTTP routes: public orders under /api/orders, the order as delivery sees it under /internal."""

from __future__ import annotations

from fastapi import APIRouter

from sales_service import services
from sales_service.deps import InventoryDep, Payments, Store
from sales_service.schemas import OrderIn, OrderOut

orders = APIRouter(prefix="/api/orders", tags=["orders"])
internal = APIRouter(prefix="/internal/orders", tags=["internal"], include_in_schema=False)


@orders.post("", status_code=201)
async def place_order(body: OrderIn, store: Store, inventory: InventoryDep, payments: Payments) -> OrderOut:
    order = await services.place_order(
        store,
        inventory,
        payments,
        customer_id=body.customer_id,
        lines=body.lines(),
        payment_method=body.payment_method,
        payment_token=body.payment_token,
    )
    return OrderOut.of(order)


@orders.get("/{order_id}")
async def get_order(order_id: str, store: Store) -> OrderOut:
    return OrderOut.of(await services.get_order(store, order_id))


@internal.get("/{order_id}")
async def get_order_internal(order_id: str, store: Store) -> OrderOut:
    return OrderOut.of(await services.get_order(store, order_id))
