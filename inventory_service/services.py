"""Inventory's use cases; each receives the store it works on, and counts what it changed in the
domain metrics (`metrics.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from inventory_service import metrics
from inventory_service.domain import (
    Book,
    BookChanges,
    BookNotFound,
    BookQuery,
    Hold,
    HoldNotFound,
    NewBook,
    NothingToChange,
)
from inventory_service.store import InventoryStore
from shared.clock import utcnow
from shared.paging import Page


async def get_book(store: InventoryStore, book_id: str) -> Book:
    book = await store.get_book(book_id)
    if book is None:
        raise BookNotFound()
    return book


async def list_books(store: InventoryStore, query: BookQuery, *, after: int | None, limit: int) -> Page[Book]:
    return await store.list_books(query, after=after, limit=limit)


async def add_book(store: InventoryStore, new: NewBook) -> Book:
    return await store.add_book(new)


async def edit_book(store: InventoryStore, book_id: str, changes: BookChanges) -> Book:
    if not changes:
        raise NothingToChange()
    return await store.update_book(book_id, changes)


async def change_stock(store: InventoryStore, book_id: str, delta: int) -> Book:
    return await store.adjust_stock(book_id, delta)


async def remove_book(store: InventoryStore, book_id: str) -> None:
    await store.delete_book(book_id)


async def hold_stock(
    store: InventoryStore,
    order_id: str,
    wanted: dict[str, int],
    ttl_seconds: float,
    max_total: Decimal | None = None,
) -> tuple[Hold, bool]:
    """Hold `wanted` for `order_id`, none of it if it costs more than `max_total`; also says whether
    this call made the hold (False on a retry)."""
    hold, created = await store.hold(order_id, wanted, utcnow() + timedelta(seconds=ttl_seconds), max_total)
    return _counted("held", hold, created), created


async def commit_hold(store: InventoryStore, order_id: str) -> Hold:
    return _counted("committed", *await store.commit(order_id))


async def release_hold(store: InventoryStore, order_id: str) -> Hold:
    return _counted("released", *await store.release(order_id))


async def return_hold(store: InventoryStore, order_id: str) -> Hold:
    """Put a cancelled order's sold units back in stock."""
    return _counted("returned", *await store.return_units(order_id))


async def get_hold(store: InventoryStore, order_id: str) -> Hold:
    hold = await store.get_hold(order_id)
    if hold is None:
        raise HoldNotFound()
    return hold


async def expire_holds(store: InventoryStore, now: datetime | None = None) -> list[str]:
    """Release every hold whose time is up (as of `now`, else the clock); their orders' ids."""
    sweep = await store.expire_holds(now or utcnow())
    metrics.swept(sweep)
    return [hold.order_id for hold in sweep.released]


def _counted(event: str, hold: Hold, changed: bool) -> Hold:
    """Count a hold's units under `event` when this call changed it (a retry counts nothing)."""
    if changed:
        metrics.units(event, hold)
    return hold
