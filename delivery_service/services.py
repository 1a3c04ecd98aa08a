"""Delivery's use cases; each receives the store and clients it works with, and counts what it
changed in the domain metrics (`metrics.py`)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from delivery_service import domain, metrics
from delivery_service.clients import CANCELLED_BATCH, Sales
from delivery_service.domain import (
    AlreadyScheduled,
    Delivery,
    DeliveryDraft,
    DeliveryNotFound,
    DeliveryStatus,
    MoveClaim,
    MoveInProgress,
    OrderMoveRefused,
    OrderNotFound,
)
from delivery_service.store import DeliveryStore
from shared.clock import utcnow
from shared.errors import AppError
from shared.idempotency import Key
from shared.paging import Page
from shared.principal import Principal


async def schedule_delivery(
    store: DeliveryStore,
    sales: Sales,
    *,
    order_id: str,
    address: str,
    requested_date: date | None,
    business_days: int,
    principal: Principal,
    key: Key | None = None,
) -> tuple[Delivery, bool]:
    """A Pending delivery for a confirmed order that has none yet, and whether it was scheduled
    before: a retry with the Idempotency-Key `key` is answered from the delivery the key is bound
    to, as that delivery is now (sales is not asked again)."""
    if key is not None and (made := await store.keyed_delivery(key)) is not None:
        return await get_delivery(store, made), True
    order = await sales.get_order(order_id)
    if not principal.owns(order.customer_id):
        raise OrderNotFound(order_id)  # another customer's order does not exist for a customer
    domain.check_deliverable(order)
    draft = DeliveryDraft(
        order_id=order_id,
        customer_id=order.customer_id,
        address=address,
        estimated_date=domain.estimated_date(order, requested_date, business_days),
        created_at=utcnow(),
    )
    try:
        delivery = await store.add_delivery(draft, key)
    except AlreadyScheduled as exc:  # a concurrent request with the same key won
        return await get_delivery(store, exc.delivery_id), True
    metrics.scheduled()
    return delivery, False


async def get_delivery(
    store: DeliveryStore, delivery_id: str, principal: Principal | None = None
) -> Delivery:
    """The delivery; another customer's delivery does not exist for a customer."""
    delivery = await store.get_delivery(delivery_id)
    if delivery is None or (principal is not None and not principal.owns(delivery.customer_id)):
        raise DeliveryNotFound()
    return delivery


async def list_deliveries(
    store: DeliveryStore,
    principal: Principal,
    *,
    order_id: str | None,
    status: DeliveryStatus | None,
    after: int | None,
    limit: int,
) -> Page[Delivery]:
    customer_id = principal.subject if principal.sees_only_own else None
    return await store.list_deliveries(
        customer_id=customer_id, order_id=order_id, status=status, after=after, limit=limit
    )


async def move_delivery(
    store: DeliveryStore, sales: Sales, delivery_id: str, to: DeliveryStatus, *, claim_seconds: float
) -> Delivery:
    """Move a delivery to its next status. Shipped and Delivered move the order in sales first:
    sales' answer is the truth, so the delivery changes only once sales has said yes."""
    delivery = await get_delivery(store, delivery_id)
    if delivery.claim is not None and delivery.claim.to != to:
        # A contrary move waits for sales' answer to the pending one (409 until then).
        delivery = await _settle(store, sales, delivery, timedelta(seconds=claim_seconds))
    domain.check_move(delivery.status, to)
    order_move = domain.ORDER_MOVES.get(to)
    if order_move is None:
        return _counted(await store.move(delivery_id, delivery.status, to, utcnow()))
    # Held while sales is asked, so that a contrary move (Cancelled) cannot slip in between
    # sales' yes and the delivery's own move.
    claim = MoveClaim(to, uuid.uuid4().hex, utcnow())
    await store.claim_move(delivery_id, delivery.status, claim)
    try:
        await sales.move_order(delivery.order_id, order_move)
    except OrderMoveRefused:
        await store.release_claim(delivery_id, claim.token)
        raise
    # Any other failure (503, 504) keeps the claim until sales answers, however long that takes:
    # sales may have moved the order before its answer was lost. The same move may be retried.
    return _counted(await store.move(delivery_id, delivery.status, to, utcnow()))


async def _settle(store: DeliveryStore, sales: Sales, delivery: Delivery, grace: timedelta) -> Delivery:
    """The delivery once sales has answered its pending move; MoveInProgress while the claim is
    still its own request's (younger than `grace`) or sales does not answer."""
    claim = delivery.claim
    assert claim is not None
    settled = await _finish(store, sales, delivery) if claim.made_at <= utcnow() - grace else None
    if settled is None:
        raise MoveInProgress(delivery)
    return settled


async def finish_moves(store: DeliveryStore, sales: Sales, *, grace: timedelta) -> list[Delivery]:
    """Retry the sales half of moves whose call to sales failed, until sales takes or refuses them;
    the deliveries moved. A claim younger than `grace` (longer than a PATCH takes) is left to its
    own request."""
    finished = []
    for delivery in await store.claimed():
        claim = delivery.claim
        assert claim is not None
        if claim.made_at > utcnow() - grace:
            continue
        settled = await _finish(store, sales, delivery)
        if settled is not None and settled.status == claim.to:
            finished.append(settled)
    return finished


async def _finish(store: DeliveryStore, sales: Sales, delivery: Delivery) -> Delivery | None:
    """Ask sales again for the delivery's pending move (a repeat is harmless): the delivery moved
    when sales says yes, released when it says no; None while sales does not answer."""
    claim = delivery.claim
    assert claim is not None
    try:
        await sales.move_order(delivery.order_id, domain.ORDER_MOVES[claim.to])
    except OrderMoveRefused:
        await store.release_claim(delivery.delivery_id, claim.token)
        return await get_delivery(store, delivery.delivery_id)
    except AppError:
        return None  # sales still away: the claim stays, the next round or request asks again
    try:
        return _counted(await store.move(delivery.delivery_id, delivery.status, claim.to, utcnow()))
    except AppError:
        return await get_delivery(store, delivery.delivery_id)  # another retry moved it first


async def cancel_with_orders(store: DeliveryStore, sales: Sales) -> list[Delivery]:
    """Cancel every Pending delivery whose order sales has cancelled; the deliveries cancelled.

    One held by a pending Shipped move is left for a later round: sales refuses that move (the
    order is cancelled), which releases the claim."""
    cancelled: list[Delivery] = []
    after: int | None = None
    while True:
        page = await store.list_deliveries(
            customer_id=None, order_id=None, status="Pending", after=after, limit=CANCELLED_BATCH
        )
        gone = await sales.cancelled_orders([d.order_id for d in page.items]) if page.items else set()
        for delivery in page.items:
            if delivery.order_id in gone:
                try:
                    cancelled.append(
                        _counted(await store.move(delivery.delivery_id, "Pending", "Cancelled", utcnow()))
                    )
                except AppError:
                    continue  # moved or claimed meanwhile
        if page.next_after is None:
            return cancelled
        after = page.next_after


def _counted(moved: Delivery) -> Delivery:
    metrics.moved(moved.status)
    return moved
