"""Inventory's use cases; each receives the store it works on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inventory_service.domain import Book, BookNotFound, Reservation, ReservationNotFound
from inventory_service.store import InventoryStore


async def get_book(store: InventoryStore, book_id: str) -> Book:
    book = await store.get_book(book_id)
    if book is None:
        raise BookNotFound()
    return book


async def list_books(store: InventoryStore) -> list[Book]:
    return await store.list_books()


async def reserve_stock(
    store: InventoryStore, order_id: str, wanted: dict[str, int], ttl_seconds: float
) -> tuple[Reservation, bool]:
    """Hold `wanted` for `order_id`; also says whether this call made the hold (False on a retry)."""
    return await store.hold(order_id, wanted, datetime.now(UTC) + timedelta(seconds=ttl_seconds))


async def commit_reservation(store: InventoryStore, order_id: str) -> Reservation:
    return await store.commit(order_id)


async def release_reservation(store: InventoryStore, order_id: str) -> Reservation:
    return await store.release(order_id)


async def get_reservation(store: InventoryStore, order_id: str) -> Reservation:
    reservation = await store.get_reservation(order_id)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


async def expire_holds(store: InventoryStore) -> list[str]:
    return await store.expire_holds(datetime.now(UTC))
