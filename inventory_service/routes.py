"""Inventory's HTTP routes: the public catalog under /api/books, holds under /internal/reservations."""

from __future__ import annotations

from fastapi import APIRouter, Response

from inventory_service import services
from inventory_service.deps import Settings, Store
from inventory_service.schemas import BookOut, HoldIn, ReservationOut

books = APIRouter(prefix="/api/books", tags=["books"])
internal = APIRouter(prefix="/internal/reservations", tags=["internal"], include_in_schema=False)


@books.get("")
async def list_books(store: Store) -> dict[str, BookOut]:
    return {book.id: BookOut.of(book) for book in await services.list_books(store)}


@books.get("/{book_id}")
async def get_book(book_id: str, store: Store) -> BookOut:
    return BookOut.of(await services.get_book(store, book_id))


@internal.post("", status_code=201)
async def hold(body: HoldIn, store: Store, settings: Settings, response: Response) -> ReservationOut:
    reservation, created = await services.reserve_stock(
        store, body.order_id, body.wanted(), settings.hold_ttl_seconds
    )
    if not created:
        response.status_code = 200
    return ReservationOut.of(reservation)


@internal.get("/{order_id}")
async def get_reservation(order_id: str, store: Store) -> ReservationOut:
    return ReservationOut.of(await services.get_reservation(store, order_id))


@internal.post("/{order_id}/commit")
async def commit(order_id: str, store: Store) -> ReservationOut:
    return ReservationOut.of(await services.commit_reservation(store, order_id))


@internal.post("/{order_id}/release")
async def release(order_id: str, store: Store) -> ReservationOut:
    return ReservationOut.of(await services.release_reservation(store, order_id))
