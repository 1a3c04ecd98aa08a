"""Sales' store: the interface in domain words, and its one implementation on `Docs` (in memory,
the JSON journal, or Redis shared by several instances)."""

from __future__ import annotations

import time
from typing import Protocol

from sales_service import rules
from sales_service.documents import CUSTOMER, LEASES, ORDER_NUMBERS, ORDERS, PENDING, number, put
from sales_service.domain import Order, OrderNotFound, OrderStatus, PaymentStatus, check_move
from shared import idempotency
from shared.idempotency import Key
from shared.paging import Page
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx

__all__ = ["ORDERS", "DocSalesStore", "SalesStore"]


class SalesStore(Protocol):
    """Orders by id. Every method is atomic; ids are `order_<n>`, increasing, never reused (an add
    that fails after it took its number leaves a gap)."""

    async def add_order(
        self, draft: Order, lease: tuple[str, float] | None = None, key: Key | None = None
    ) -> Order:
        """Store `draft` under the next order id and return it with that id; with `lease` (owner,
        until) the order is leased to its saga, and `key` bound to it, in the same transaction.
        AlreadyPlaced (nothing stored) when `key` is bound to another order already."""

    async def keyed_order(self, key: Key) -> str | None:
        """The order `key` is bound to; KeyReused when it came with another body."""

    async def last_number(self) -> int:
        """The number of the last order given one (0: none yet)."""

    async def skip_numbers(self, past: int) -> bool:
        """Number the next orders above `past` (inventory still knows orders this store lost);
        whether they would have been numbered lower."""

    async def purge_keys(self, older_than: float) -> int:
        """Forget the idempotency keys bound before `older_than` (epoch seconds)."""

    async def save_order(self, order: Order) -> None:
        """Write `order` blindly (tests and set-up only: the use cases move orders by `swap_order`)."""

    async def swap_order(self, expected: Order, new: Order) -> tuple[Order, bool]:
        """Compare-and-set: store `new` if the stored order still has `expected`'s status and
        payment status; otherwise change nothing. The order as stored now, and whether it moved."""

    async def lease_order(self, order_id: str, owner: str, until: float) -> bool:
        """Take (or renew) the order's lease for `owner` until `until` (epoch seconds), unless
        another owner holds one that has not run out. Whether `owner` holds it now."""

    async def end_lease(self, order_id: str, owner: str) -> None:
        """Give the lease back, if `owner` holds it."""

    async def get_order(self, order_id: str) -> Order | None: ...

    async def delete_order(self, order_id: str, key: Key | None = None) -> None:
        """Delete an order that was never acknowledged, and free `key`: it kept nothing."""

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

    async def open(self) -> None:
        """Load what is stored; once, before any other call."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class DocSalesStore:
    """The sales store on any `Docs` backend."""

    def __init__(self, docs: Docs | Tables, max_keys: int = idempotency.MAX_KEYS_PER_PRINCIPAL) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs
        self.max_keys = max_keys  # Idempotency-Keys one caller may hold
        # An order's number and customer never change: saving one needs no read of what it replaces.
        self.docs.order(ORDERS, number, indexes={CUSTOMER: lambda doc: doc["customer_id"]}, stable=True)

    async def add_order(
        self, draft: Order, lease: tuple[str, float] | None = None, key: Key | None = None
    ) -> Order:
        order = draft.with_id(f"order_{await self.docs.next_number(ORDER_NUMBERS)}")

        await self.docs.decide(rules.create(order, lease, key, self.max_keys))
        return order

    async def save_order(self, order: Order) -> None:
        async def work(tx: Tx) -> None:
            put(tx, order)

        await self.docs.atomic(work)

    async def swap_order(self, expected: Order, new: Order) -> tuple[Order, bool]:
        return await self.docs.decide(rules.swap(expected, new))

    async def lease_order(self, order_id: str, owner: str, until: float) -> bool:
        async def work(tx: Tx) -> bool:
            held = await tx.get(LEASES, order_id)
            if held is not None and held["owner"] != owner and held["until"] > time.time():
                return False
            tx.put(LEASES, order_id, {"owner": owner, "until": until})
            return True

        return await self.docs.atomic(work)

    async def end_lease(self, order_id: str, owner: str) -> None:
        async def work(tx: Tx) -> None:
            held = await tx.get(LEASES, order_id)
            if held is not None and held["owner"] == owner:
                tx.delete(LEASES, order_id)

        await self.docs.atomic(work)

    async def get_order(self, order_id: str) -> Order | None:
        doc = await self.docs.get(ORDERS, order_id)
        return Order.from_doc(doc) if doc else None

    async def keyed_order(self, key: Key) -> str | None:
        return await self.docs.atomic(lambda tx: idempotency.bound(tx, key))

    async def last_number(self) -> int:
        return await self.docs.last_number(ORDER_NUMBERS)

    async def skip_numbers(self, past: int) -> bool:
        return await self.docs.skip_numbers(ORDER_NUMBERS, past)

    async def purge_keys(self, older_than: float) -> int:
        return await idempotency.purge(self.docs, older_than)

    async def delete_order(self, order_id: str, key: Key | None = None) -> None:
        async def work(tx: Tx) -> None:
            if key is not None:
                await idempotency.unbind(tx, key.digest)
            tx.delete(ORDERS, order_id)
            tx.delete(PENDING, order_id)
            tx.delete(LEASES, order_id)

        await self.docs.atomic(work)

    async def move_order(
        self, order_id: str, to: OrderStatus, payment_status: PaymentStatus | None = None
    ) -> tuple[Order, bool]:
        async def work(tx: Tx) -> tuple[Order, bool]:
            doc = await tx.get(ORDERS, order_id)
            if doc is None:
                raise OrderNotFound()
            order = Order.from_doc(doc)
            if not check_move(order, to):
                return order, False
            moved = order.moved(to, payment_status)
            put(tx, moved)
            return moved, True

        return await self.docs.atomic(work)

    async def list_orders(
        self, *, customer_id: str | None, status: OrderStatus | None, after: int | None, limit: int
    ) -> Page[Order]:
        page = await self.docs.page(
            ORDERS,
            after=after,
            limit=limit,
            index=CUSTOMER if customer_id is not None else None,
            value=customer_id,
            keep=(lambda doc: doc["status"] == status) if status is not None else None,
        )
        return page.map(Order.from_doc)

    async def pending_orders(self) -> list[Order]:
        orders = [await self.get_order(order_id) for order_id in await self.docs.keys(PENDING)]
        return [order for order in orders if order is not None]

    async def open(self) -> None:
        await self.docs.open()

    async def ping(self) -> None:
        await self.docs.ping()

    async def close(self) -> None:
        await self.docs.close()
