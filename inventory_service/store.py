"""Inventory's store: the interface in domain words, and its implementation on shared tables
(in memory for unit tests, journaled to a JSON file for the embedded default)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from inventory_service.domain import (
    Book,
    HeldLine,
    InsufficientStock,
    Reservation,
    ReservationConflict,
    ReservationNotFound,
    shortages,
)
from shared.store import Change, Tables

BOOKS, RESERVATIONS, HOLDS = "books", "reservations", "holds"


class InventoryStore(Protocol):
    """Books and holds. Every method is atomic; hold, commit and release are idempotent per order."""

    async def seed(self, books: Iterable[Book]) -> None:
        """Add `books` when the catalog has never been written (first start)."""

    async def get_book(self, book_id: str) -> Book | None: ...

    async def list_books(self) -> list[Book]: ...

    async def hold(
        self, order_id: str, wanted: dict[str, int], expires_at: datetime
    ) -> tuple[Reservation, bool]:
        """Take `wanted` units out of stock for `order_id`, all lines or none (InsufficientStock).

        Also says whether this call made the hold (False when it existed: a retry)."""

    async def get_reservation(self, order_id: str) -> Reservation | None: ...

    async def commit(self, order_id: str) -> Reservation:
        """Make a hold final; committing again returns it, a released one is a conflict."""

    async def release(self, order_id: str) -> Reservation:
        """Return a hold's units to stock; releasing again returns it, a committed one is a conflict."""

    async def expire_holds(self, now: datetime) -> list[str]:
        """Release every hold whose time is up; the ids of the released orders."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class TablesInventoryStore:
    """The inventory store on `Tables`: no awaits inside a method, so each one is atomic."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def seed(self, books: Iterable[Book]) -> None:
        if not self.tables.get("meta", "seeded"):
            self.tables.write([(BOOKS, b.id, b.to_doc()) for b in books] + [("meta", "seeded", True)])

    async def get_book(self, book_id: str) -> Book | None:
        doc = self.tables.get(BOOKS, book_id)
        return Book.from_doc(doc) if doc else None

    async def list_books(self) -> list[Book]:
        return [Book.from_doc(doc) for doc in self.tables.table(BOOKS).values()]

    async def get_reservation(self, order_id: str) -> Reservation | None:
        doc = self.tables.get(RESERVATIONS, order_id)
        return Reservation.from_doc(doc) if doc else None

    async def hold(
        self, order_id: str, wanted: dict[str, int], expires_at: datetime
    ) -> tuple[Reservation, bool]:
        existing = await self.get_reservation(order_id)
        if existing:
            if existing.quantities() != wanted:
                raise ReservationConflict(f"Order {order_id} already holds other lines")
            return existing, False
        books = {book_id: await self.get_book(book_id) for book_id in wanted}
        short = shortages(wanted, books)
        if short:
            raise InsufficientStock(short)
        lines = []
        changes: list[Change] = []
        for book_id, quantity in wanted.items():
            book = books[book_id]
            assert book is not None
            lines.append(HeldLine(book_id, quantity, book.price))
            changes.append((BOOKS, book_id, {**book.to_doc(), "stock": book.stock - quantity}))
        reservation = Reservation(order_id, tuple(lines), "held", expires_at)
        changes += [(RESERVATIONS, order_id, reservation.to_doc()), (HOLDS, order_id, True)]
        self.tables.write(changes)
        return reservation, True

    async def commit(self, order_id: str) -> Reservation:
        reservation = await self._settle(order_id, "committed")
        if reservation.status == "held":
            reservation = self._finish(reservation, "committed", [])
        return reservation

    async def release(self, order_id: str) -> Reservation:
        reservation = await self._settle(order_id, "released")
        if reservation.status == "held":
            restock = self._restock(reservation)
            reservation = self._finish(reservation, "released", restock)
        return reservation

    async def expire_holds(self, now: datetime) -> list[str]:
        expired = []
        for order_id in list(self.tables.table(HOLDS)):
            reservation = await self.get_reservation(order_id)
            if reservation and reservation.expires_at <= now:
                await self.release(order_id)
                expired.append(order_id)
        return expired

    async def _settle(self, order_id: str, target: str) -> Reservation:
        reservation = await self.get_reservation(order_id)
        if reservation is None:
            raise ReservationNotFound()
        if reservation.status not in ("held", target):
            raise ReservationConflict(f"Reservation for {order_id} is already {reservation.status}")
        return reservation

    def _restock(self, reservation: Reservation) -> list[Change]:
        changes: list[Change] = []
        for line in reservation.lines:
            doc = self.tables.get(BOOKS, line.book_id)
            if doc is not None:  # a book deleted meanwhile has no stock to return to
                changes.append((BOOKS, line.book_id, {**doc, "stock": doc["stock"] + line.quantity}))
        return changes

    def _finish(self, reservation: Reservation, status: str, changes: list[Change]) -> Reservation:
        done = Reservation.from_doc({**reservation.to_doc(), "status": status})
        self.tables.write(
            [*changes, (RESERVATIONS, done.order_id, done.to_doc()), (HOLDS, done.order_id, None)]
        )
        return done

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.tables.close()
