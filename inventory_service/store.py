"""Inventory's store: the interface in domain words, and its implementation on shared tables
(in memory for unit tests, journaled to a JSON file for the embedded default)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from inventory_service.domain import (
    FIRST_GENERATED_ID,
    Book,
    BookChanges,
    BookExists,
    BookHeld,
    BookNotFound,
    BookQuery,
    HeldLine,
    InsufficientStock,
    IsbnTaken,
    NewBook,
    NotEnoughStock,
    Reservation,
    ReservationConflict,
    ReservationNotFound,
    isbn_key,
    shortages,
)
from shared.paging import DEFAULT_LIMIT, Page
from shared.store import Change, Tables

BOOKS, RESERVATIONS, HOLDS, ISBNS, SEQ = "books", "reservations", "holds", "isbns", "seq"
LAST_POSITION, LAST_GENERATED_ID = "book_position", "book_id"


class InventoryStore(Protocol):
    """Books and holds. Every method is atomic; hold, commit, release and return are idempotent per order."""

    async def seed(self, books: Iterable[Book]) -> None:
        """Add `books` when the catalog has never been written (first start)."""

    async def get_book(self, book_id: str) -> Book | None: ...

    async def list_books(
        self, query: BookQuery | None = None, *, after: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> Page[Book]:
        """The books `query` matches, in catalog order (the order they were added), after the cursor."""

    async def add_book(self, new: NewBook) -> Book:
        """Add a book at the end of the catalog, under a fresh generated id when it has none.
        BookExists or IsbnTaken when its id or ISBN is in the catalog already."""

    async def update_book(self, book_id: str, changes: BookChanges) -> Book:
        """Apply `changes`; BookNotFound, or IsbnTaken when another book has the new ISBN."""

    async def adjust_stock(self, book_id: str, delta: int) -> Book:
        """Add `delta` (negative: remove) to the stock; NotEnoughStock when it would go below zero."""

    async def delete_book(self, book_id: str) -> None:
        """Remove a book; BookNotFound, or BookHeld while a hold in progress includes it."""

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

    async def return_units(self, order_id: str) -> Reservation:
        """Put a committed hold's units back in stock (its order was cancelled); returning again
        returns it, a held or released one is a conflict."""

    async def expire_holds(self, now: datetime) -> list[str]:
        """Release every hold whose time is up; the ids of the released orders."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class TablesInventoryStore:
    """The inventory store on `Tables`: no awaits inside a method, so each one is atomic.

    Each book document keeps its catalog position `pos`, the cursor of the catalog's pages, and
    the `isbns` table maps each ISBN (as ISBN-13) to its book, written in the same batch."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self._upgrade()
        tables.order(BOOKS, _position, indexes={"author": lambda doc: str(doc["author"]).casefold()})

    def _upgrade(self) -> None:
        """Books stored by an older version get a position (in their stored order) and an ISBN entry."""
        books = self.tables.table(BOOKS)
        last = max([self._last_position()] + [doc["pos"] for doc in books.values() if "pos" in doc])
        changes: list[Change] = []
        indexed: set[str] = set()
        for book_id, doc in books.items():
            if "pos" not in doc:
                last += 1
                changes.append((BOOKS, book_id, {**doc, "pos": last}))
            key = isbn_key(doc["isbn"])
            if self.tables.get(ISBNS, key) is None and key not in indexed:
                indexed.add(key)
                changes.append((ISBNS, key, book_id))
        if last != self._last_position():
            changes.append((SEQ, LAST_POSITION, last))
        if changes:
            self.tables.write(changes)

    async def seed(self, books: Iterable[Book]) -> None:
        if not self.tables.get("meta", "seeded"):
            changes: list[Change] = []
            last = self._last_position()
            for book in books:
                last += 1
                changes += self._added(book, last)
            self.tables.write([*changes, ("meta", "seeded", True)])

    async def get_book(self, book_id: str) -> Book | None:
        doc = self.tables.get(BOOKS, book_id)
        return Book.from_doc(doc) if doc else None

    async def list_books(
        self, query: BookQuery | None = None, *, after: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> Page[Book]:
        query = query or BookQuery()
        author = query.author.casefold() if query.author is not None else None
        keep: Callable[[Any], bool] | None = None
        if query.q is not None or query.in_stock is not None:  # no index answers these: filter
            keep = lambda doc: query.matches(Book.from_doc(doc))  # noqa: E731
        page = self.tables.page(
            BOOKS,
            after=after,
            limit=limit,
            index="author" if author is not None else None,
            value=author,
            keep=keep,
        )
        return page.map(Book.from_doc)

    async def add_book(self, new: NewBook) -> Book:
        book_id = new.id if new.id is not None else self._free_id()
        if self.tables.get(BOOKS, book_id) is not None:
            raise BookExists(book_id)
        if self.tables.get(ISBNS, isbn_key(new.isbn)) is not None:
            raise IsbnTaken(new.isbn)
        book = new.with_id(book_id)
        changes = self._added(book, self._last_position() + 1)
        if new.id is None:
            changes.append((SEQ, LAST_GENERATED_ID, int(book_id)))
        self.tables.write(changes)
        return book

    async def update_book(self, book_id: str, changes: BookChanges) -> Book:
        doc = self._book_doc(book_id)
        book = Book.from_doc(doc)
        updated = changes.apply(book)
        writes: list[Change] = [(BOOKS, book_id, {**doc, **updated.to_doc()})]
        old_key, new_key = isbn_key(book.isbn), isbn_key(updated.isbn)
        if new_key != old_key:
            if self.tables.get(ISBNS, new_key) not in (None, book_id):
                raise IsbnTaken(updated.isbn)
            if self.tables.get(ISBNS, old_key) == book_id:
                writes.append((ISBNS, old_key, None))
            writes.append((ISBNS, new_key, book_id))
        self.tables.write(writes)
        return updated

    async def adjust_stock(self, book_id: str, delta: int) -> Book:
        doc = self._book_doc(book_id)
        if doc["stock"] + delta < 0:
            raise NotEnoughStock(Book.from_doc(doc), delta)
        doc = {**doc, "stock": doc["stock"] + delta}
        self.tables.write([(BOOKS, book_id, doc)])
        return Book.from_doc(doc)

    async def delete_book(self, book_id: str) -> None:
        doc = self._book_doc(book_id)
        for order_id in self.tables.table(HOLDS):
            reservation = self._reservation(order_id)
            if reservation is not None and book_id in reservation.quantities():
                raise BookHeld(book_id)
        changes: list[Change] = [(BOOKS, book_id, None)]
        if self.tables.get(ISBNS, isbn_key(doc["isbn"])) == book_id:
            changes.append((ISBNS, isbn_key(doc["isbn"]), None))
        self.tables.write(changes)

    async def get_reservation(self, order_id: str) -> Reservation | None:
        return self._reservation(order_id)

    async def hold(
        self, order_id: str, wanted: dict[str, int], expires_at: datetime
    ) -> tuple[Reservation, bool]:
        existing = self._reservation(order_id)
        if existing:
            if existing.quantities() != wanted:
                raise ReservationConflict(f"Order {order_id} already holds other lines")
            return existing, False
        docs = {book_id: self.tables.get(BOOKS, book_id) for book_id in wanted}
        short = shortages(wanted, {b: Book.from_doc(doc) if doc else None for b, doc in docs.items()})
        if short:
            raise InsufficientStock(short)
        lines = []
        changes: list[Change] = []
        for book_id, quantity in wanted.items():
            doc = docs[book_id]
            lines.append(HeldLine(book_id, quantity, Book.from_doc(doc).price))
            changes.append((BOOKS, book_id, {**doc, "stock": doc["stock"] - quantity}))
        reservation = Reservation(order_id, tuple(lines), "held", expires_at)
        changes += [(RESERVATIONS, order_id, reservation.to_doc()), (HOLDS, order_id, True)]
        self.tables.write(changes)
        return reservation, True

    async def commit(self, order_id: str) -> Reservation:
        reservation = self._settle(order_id, "held", "committed")
        if reservation.status == "held":
            reservation = self._finish(reservation, "committed", [])
        return reservation

    async def release(self, order_id: str) -> Reservation:
        reservation = self._settle(order_id, "held", "released")
        if reservation.status == "held":
            reservation = self._finish(reservation, "released", self._restock(reservation))
        return reservation

    async def return_units(self, order_id: str) -> Reservation:
        reservation = self._settle(order_id, "committed", "returned")
        if reservation.status == "committed":
            reservation = self._finish(reservation, "returned", self._restock(reservation))
        return reservation

    async def expire_holds(self, now: datetime) -> list[str]:
        expired = []
        for order_id in list(self.tables.table(HOLDS)):
            reservation = self._reservation(order_id)
            if reservation and reservation.expires_at <= now:
                await self.release(order_id)
                expired.append(order_id)
        return expired

    def _added(self, book: Book, position: int) -> list[Change]:
        return [
            (BOOKS, book.id, {**book.to_doc(), "pos": position}),
            (ISBNS, isbn_key(book.isbn), book.id),
            (SEQ, LAST_POSITION, position),
        ]

    def _last_position(self) -> int:
        return int(self.tables.get(SEQ, LAST_POSITION) or 0)

    def _free_id(self) -> str:
        """The next generated id, past any id a client chose that is in use."""
        n = max(int(self.tables.get(SEQ, LAST_GENERATED_ID) or 0) + 1, FIRST_GENERATED_ID)
        while self.tables.get(BOOKS, str(n)) is not None:
            n += 1
        return str(n)

    def _book_doc(self, book_id: str) -> dict[str, Any]:
        doc: dict[str, Any] | None = self.tables.get(BOOKS, book_id)
        if doc is None:
            raise BookNotFound()
        return doc

    def _reservation(self, order_id: str) -> Reservation | None:
        doc = self.tables.get(RESERVATIONS, order_id)
        return Reservation.from_doc(doc) if doc else None

    def _settle(self, order_id: str, source: str, target: str) -> Reservation:
        """The reservation, when it is `source` (to be moved) or `target` already (a retry)."""
        reservation = self._reservation(order_id)
        if reservation is None:
            raise ReservationNotFound()
        if reservation.status not in (source, target):
            raise ReservationConflict(f"Reservation for {order_id} is {reservation.status}")
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


def _position(doc: dict[str, Any]) -> int:
    return int(doc["pos"])
