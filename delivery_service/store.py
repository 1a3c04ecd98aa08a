"""Delivery's store: the interface in domain words, and its one implementation on `Docs` (in memory,
the JSON journal, or Redis shared by several instances)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from delivery_service.domain import (
    AlreadyScheduled,
    Delivery,
    DeliveryDraft,
    DeliveryExists,
    DeliveryNotFound,
    DeliveryStatus,
    MoveClaim,
    check_turn,
)
from shared import idempotency
from shared.idempotency import Key
from shared.paging import Page
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx

# deliveries: id -> delivery (and the counter of delivery numbers); orders: order id -> its
# delivery's id (one delivery per order).
DELIVERIES, ORDERS = "deliveries", "orders"
MOVING = "moving"  # deliveries held by a claim: a move sales may not have heard of yet


class DeliveryStore(Protocol):
    """Deliveries by id. Every method is atomic; ids are `del_<n>`, increasing, never reused (an add
    refused after it took its number leaves a gap)."""

    async def add_delivery(self, draft: DeliveryDraft, key: Key | None = None) -> Delivery:
        """Store `draft` under the next id `del_<n>`, and bind `key` to it in the same transaction;
        AlreadyScheduled (nothing stored) when `key` is bound to a delivery already, else
        DeliveryExists if its order already has one."""

    async def keyed_delivery(self, key: Key) -> str | None:
        """The delivery `key` is bound to; KeyReused when it came with another body."""

    async def purge_keys(self, older_than: float) -> int:
        """Forget the idempotency keys bound before `older_than` (epoch seconds)."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def list_deliveries(
        self,
        *,
        customer_id: str | None,
        order_id: str | None,
        status: DeliveryStatus | None,
        after: int | None,
        limit: int,
    ) -> Page[Delivery]:
        """Deliveries in id order, of one customer and/or one order and/or in one status."""

    async def claim_move(self, delivery_id: str, expected: DeliveryStatus, claim: MoveClaim) -> Delivery:
        """Compare-and-set: hold the delivery for a move to `claim.to` while sales is asked.
        DeliveryNotFound, MoveRefused if it is no longer `expected`, MoveInProgress if a claim for
        another status holds it. A refused call changes nothing."""

    async def move(
        self, delivery_id: str, expected: DeliveryStatus, to: DeliveryStatus, at: datetime
    ) -> Delivery:
        """Compare-and-set the status from `expected` to `to` (history + 1, claim ended); the
        errors of `claim_move`, and a refused move changes nothing."""

    async def release_claim(self, delivery_id: str, token: str) -> None:
        """End the claim `token`, if it is still the delivery's (sales refused the move)."""

    async def claimed(self) -> list[Delivery]:
        """Deliveries held by a claim, for the job that finishes interrupted moves."""

    async def open(self) -> None:
        """Load what is stored; once, before any other call."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class DocDeliveryStore:
    """The delivery store on any `Docs` backend."""

    def __init__(self, docs: Docs | Tables, max_keys: int = idempotency.MAX_KEYS_PER_PRINCIPAL) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs
        self.max_keys = max_keys  # Idempotency-Keys one caller may hold
        self.docs.order(
            DELIVERIES,
            _number,
            indexes={"customer": lambda doc: doc["customer_id"], "order": lambda doc: doc["order_id"]},
            stable=True,  # a delivery's number, customer and order never change
        )

    async def add_delivery(self, draft: DeliveryDraft, key: Key | None = None) -> Delivery:
        if await self.docs.get(ORDERS, draft.order_id) is not None:
            # Before taking a number: a plain refusal uses none.
            if key is not None and (made := await self.keyed_delivery(key)) is not None:
                raise AlreadyScheduled(made)
            raise DeliveryExists(draft.order_id)
        # The number first, then the transaction: of adds racing for one order, those refused
        # after taking theirs leave gaps.
        delivery = draft.with_id(f"del_{await self.docs.next_number(DELIVERIES)}")

        async def work(tx: Tx) -> Delivery:
            if key is not None and (
                made := await idempotency.bind(tx, key, delivery.delivery_id, self.max_keys)
            ):
                raise AlreadyScheduled(made)
            if await tx.get(ORDERS, draft.order_id) is not None:
                raise DeliveryExists(draft.order_id)
            tx.put(DELIVERIES, delivery.delivery_id, delivery.to_doc())
            tx.put(ORDERS, delivery.order_id, delivery.delivery_id)
            return delivery

        return await self.docs.atomic(work)

    async def keyed_delivery(self, key: Key) -> str | None:
        return await self.docs.atomic(lambda tx: idempotency.bound(tx, key))

    async def purge_keys(self, older_than: float) -> int:
        return await idempotency.purge(self.docs, older_than)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        doc = await self.docs.get(DELIVERIES, delivery_id)
        return Delivery.from_doc(doc) if doc else None

    async def list_deliveries(
        self,
        *,
        customer_id: str | None,
        order_id: str | None,
        status: DeliveryStatus | None,
        after: int | None,
        limit: int,
    ) -> Page[Delivery]:
        wanted: dict[str, Any] = {"customer_id": customer_id, "order_id": order_id, "status": status}
        wanted = {field: value for field, value in wanted.items() if value is not None}
        # The narrowest index answers (an order has one delivery); what is left is filtered.
        index, field = ("order", "order_id") if order_id is not None else ("customer", "customer_id")
        value = wanted.pop(field, None)
        page = await self.docs.page(
            DELIVERIES,
            after=after,
            limit=limit,
            index=index if value is not None else None,
            value=value,
            keep=(lambda doc: all(doc[f] == v for f, v in wanted.items())) if wanted else None,
        )
        return page.map(Delivery.from_doc)

    async def claim_move(self, delivery_id: str, expected: DeliveryStatus, claim: MoveClaim) -> Delivery:
        async def work(tx: Tx) -> Delivery:
            delivery = await _get(tx, delivery_id)
            check_turn(delivery, expected, claim.to)
            claimed = delivery.claimed(claim)
            tx.put(DELIVERIES, delivery_id, claimed.to_doc())
            tx.put(MOVING, delivery_id, True)
            return claimed

        return await self.docs.atomic(work)

    async def move(
        self, delivery_id: str, expected: DeliveryStatus, to: DeliveryStatus, at: datetime
    ) -> Delivery:
        async def work(tx: Tx) -> Delivery:
            delivery = await _get(tx, delivery_id)
            check_turn(delivery, expected, to)
            moved = delivery.moved(to, at)
            tx.put(DELIVERIES, delivery_id, moved.to_doc())
            tx.delete(MOVING, delivery_id)
            return moved

        return await self.docs.atomic(work)

    async def release_claim(self, delivery_id: str, token: str) -> None:
        async def work(tx: Tx) -> None:
            doc = await tx.get(DELIVERIES, delivery_id)
            delivery = Delivery.from_doc(doc) if doc else None
            if delivery is not None and delivery.claim is not None and delivery.claim.token == token:
                tx.put(DELIVERIES, delivery_id, delivery.claimed(None).to_doc())
                tx.delete(MOVING, delivery_id)

        await self.docs.atomic(work)

    async def claimed(self) -> list[Delivery]:
        found = [await self.get_delivery(delivery_id) for delivery_id in await self.docs.keys(MOVING)]
        return [delivery for delivery in found if delivery is not None and delivery.claim is not None]

    async def open(self) -> None:
        await self.docs.open()

    async def ping(self) -> None:
        await self.docs.ping()

    async def close(self) -> None:
        await self.docs.close()


async def _get(tx: Tx, delivery_id: str) -> Delivery:
    doc = await tx.get(DELIVERIES, delivery_id)
    if doc is None:
        raise DeliveryNotFound()
    return Delivery.from_doc(doc)


def _number(doc: dict[str, Any]) -> int:
    return int(str(doc["delivery_id"]).removeprefix("del_"))
