"""Sales' store: the interface in domain words, and its implementation on shared tables."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from sales_service.domain import Order, OrderNotFound, OrderStatus, PaymentStatus, check_move
from shared.paging import Page
from shared.store import Change, Tables

ORDERS, PENDING, SEQ = "orders", "pending", "seq"


class SalesStore(Protocol):
    """Orders by id. Every method is atomic; ids are `order_<n>`, increasing, never reused."""

    async def add_order(self, draft: Order) -> Order:
        """Store `draft` under the next order id and return it with that id."""

    async def save_order(self, order: Order) -> None: ...

    async def get_order(self, order_id: str) -> Order | None: ...

    async def delete_order(self, order_id: str) -> None: ...

    async def move_order(
        self, order_id: str, to: OrderStatus, payment_status: PaymentStatus | None = None
    ) -> tuple[Order, bool]:
        """Compare-and-set the status by the domain's moves; also says whether it moved (False: it
        was there already). OrderNotFound, or OrderConflict when the move is not allowed."""

    async def list_orders(
        self, *, customer_id: str | None, status: OrderStatus | None, after: int | None, limit: int
    ) -> Page[Order]: ...

    async def pending_orders(self) -> list[Order]:
        """Orders whose saga has not finished (for recovery after a crash)."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class TablesSalesStore:
    """The sales store on `Tables`: no awaits inside a method, so each one is atomic."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        tables.order(ORDERS, _number, indexes={"customer": lambda doc: doc["customer_id"]})

    async def add_order(self, draft: Order) -> Order:
        n = (self.tables.get(SEQ, "order") or 0) + 1
        order = dataclasses.replace(draft, order_id=f"order_{n}")
        self.tables.write([(SEQ, "order", n), *self._changes(order)])
        return order

    async def save_order(self, order: Order) -> None:
        self.tables.write(self._changes(order))

    def _changes(self, order: Order) -> list[Change]:
        pending = True if order.unsettled else None
        return [(ORDERS, order.order_id, order.to_doc()), (PENDING, order.order_id, pending)]

    async def get_order(self, order_id: str) -> Order | None:
        doc = self.tables.get(ORDERS, order_id)
        return Order.from_doc(doc) if doc else None

    async def delete_order(self, order_id: str) -> None:
        self.tables.write([(ORDERS, order_id, None), (PENDING, order_id, None)])

    async def move_order(
        self, order_id: str, to: OrderStatus, payment_status: PaymentStatus | None = None
    ) -> tuple[Order, bool]:
        order = await self.get_order(order_id)
        if order is None:
            raise OrderNotFound()
        if not check_move(order, to):
            return order, False
        moved = order.moved(to, payment_status)
        self.tables.write(self._changes(moved))
        return moved, True

    async def list_orders(
        self, *, customer_id: str | None, status: OrderStatus | None, after: int | None, limit: int
    ) -> Page[Order]:
        page = self.tables.page(
            ORDERS,
            after=after,
            limit=limit,
            index="customer" if customer_id is not None else None,
            value=customer_id,
            keep=(lambda doc: doc["status"] == status) if status is not None else None,
        )
        return page.map(Order.from_doc)

    async def pending_orders(self) -> list[Order]:
        return [Order.from_doc(self.tables.get(ORDERS, order_id)) for order_id in self.tables.table(PENDING)]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.tables.close()


def _number(doc: dict[str, object]) -> int:
    return int(str(doc["order_id"]).removeprefix("order_"))
