"""How sales keeps its orders as documents: the tables, the counter of order numbers, and the body
of the two hot changes, placing an order and moving it from one status to the next. `create` and
`swap` are the twins of `rules.py`'s Lua scripts: on Redis the scripts decide, on memory and JSON
these run as one transaction; a change to one is a change to both, and the store's behaviour suite
runs both."""

from __future__ import annotations

from typing import Any

from sales_service.domain import AlreadyPlaced, Order, OrderNotFound
from shared import idempotency
from shared.idempotency import Key
from shared.store.docs import Tx

ORDERS, PENDING, LEASES = "orders", "pending", "leases"
ORDER_NUMBERS = "order"  # the counter of order numbers
CUSTOMER = "customer"  # the index of orders by customer


def number(doc: dict[str, Any]) -> int:
    """An order's sort key: its number, from `order_<n>`."""
    return int(str(doc["order_id"]).removeprefix("order_"))


def put(tx: Tx, order: Order) -> None:
    """Write `order`, and keep the pending set and the lease in step with it."""
    tx.put(ORDERS, order.order_id, order.to_doc())
    if order.unsettled:
        tx.put(PENDING, order.order_id, True)
    else:
        tx.delete(PENDING, order.order_id)
        tx.delete(LEASES, order.order_id)  # a settled order has nothing left to own


async def create(tx: Tx, order: Order, lease: tuple[str, float] | None, key: Key | None, limit: int) -> None:
    """Store the new `order`, leased to `lease` (owner, until) and with `key` bound to it;
    AlreadyPlaced (nothing written) when `key` is bound to another order already."""
    if key is not None and (placed := await idempotency.bind(tx, key, order.order_id, limit)):
        raise AlreadyPlaced(placed)
    put(tx, order)
    if lease is not None:
        tx.put(LEASES, order.order_id, {"owner": lease[0], "until": lease[1]})


async def swap(tx: Tx, expected: Order, new: Order) -> tuple[Order, bool]:
    """Store `new` if the stored order still has `expected`'s status and payment status."""
    doc = await tx.get(ORDERS, expected.order_id)
    if doc is None:
        raise OrderNotFound()
    current = Order.from_doc(doc)
    if (current.status, current.payment_status) != (expected.status, expected.payment_status):
        return current, False
    put(tx, new)
    return new, True
