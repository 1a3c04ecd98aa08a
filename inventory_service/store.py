"""Inventory's store: the interface in domain words, and its one implementation on `Docs` (in memory,
the JSON journal, or Redis shared by several instances)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
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
    Hold,
    HoldConflict,
    HoldNotFound,
    HoldStatus,
    InsufficientStock,
    IsbnTaken,
    NewBook,
    NotEnoughStock,
    Sweep,
    isbn_key,
    shortages,
)
from shared.paging import DEFAULT_LIMIT, Page
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx

BOOKS, ISBNS, META = "books", "isbns", "meta"
# Every hold by order id, and the ids of those in progress (held) for removal checks and expiry.
# The first kept its name from before the word was "hold": stored data must still load.
HOLDS, OPEN_HOLDS = "reservations", "holds"
POSITION = "book_position"  # counter of catalog positions
GENERATED = "generated_book"  # counter of generated ids: the n-th is FIRST_GENERATED_ID - 1 + n


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

    async def hold(self, order_id: str, wanted: dict[str, int], expires_at: datetime) -> tuple[Hold, bool]:
        """Take `wanted` units out of stock for `order_id`, all lines or none (InsufficientStock).

        Also says whether this call made the hold (False when it existed: a retry)."""

    async def get_hold(self, order_id: str) -> Hold | None: ...

    async def commit(self, order_id: str) -> tuple[Hold, bool]:
        """Make a hold final; committing again returns it, a released one is a conflict.

        Like each move of a hold below, also says whether this call made it (False: a retry)."""

    async def release(self, order_id: str) -> tuple[Hold, bool]:
        """Return a hold's units to stock; releasing again returns it, a committed one is a conflict."""

    async def return_units(self, order_id: str) -> tuple[Hold, bool]:
        """Put a committed hold's units back in stock (its order was cancelled); returning again
        returns it, a held or released one is a conflict."""

    async def expire_holds(self, now: datetime) -> Sweep:
        """Release every hold whose time is up as of `now`; what was released and what is still held."""

    async def open(self) -> None:
        """Load what is stored; once, before any other call."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class DocInventoryStore:
    """The inventory store on any `Docs` backend: every change is one transaction.

    Each book document keeps its catalog position `pos`, the cursor of the catalog's pages; the
    `isbns` table maps each ISBN (as ISBN-13) to its book, and `holds` lists the holds in progress."""

    def __init__(self, docs: Docs | Tables) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs
        self.docs.order(BOOKS, _position, indexes={"author": lambda doc: str(doc["author"]).casefold()})

    async def seed(self, books: Iterable[Book]) -> None:
        if await self.docs.get(META, "seeded"):
            return  # every start but the first: spend no positions
        books = list(books)
        positions = [await self.docs.next_number(POSITION) for _ in books]

        async def work(tx: Tx) -> None:
            if await tx.get(META, "seeded"):
                return  # another instance starting at the same time seeded first
            for book, position in zip(books, positions, strict=True):
                _put_new(tx, book, position)
            tx.put(META, "seeded", True)

        await self.docs.atomic(work)

    async def get_book(self, book_id: str) -> Book | None:
        doc = await self.docs.get(BOOKS, book_id)
        return Book.from_doc(doc) if doc else None

    async def list_books(
        self, query: BookQuery | None = None, *, after: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> Page[Book]:
        query = query or BookQuery()
        author = query.author.casefold() if query.author is not None else None
        keep: Callable[[Any], bool] | None = None
        if query.q is not None or query.in_stock is not None:  # no index answers these: filter
            keep = lambda doc: query.matches(Book.from_doc(doc))  # noqa: E731
        page = await self.docs.page(
            BOOKS,
            after=after,
            limit=limit,
            index="author" if author is not None else None,
            value=author,
            keep=keep,
        )
        return page.map(Book.from_doc)

    async def add_book(self, new: NewBook) -> Book:
        # Refused early where one read can tell, so a refusal spends no generated id or position;
        # the transaction decides. (One read only: with two, a book added between them could be
        # refused for its ISBN where the JSON store refuses it for its id.)
        if new.id is not None and await self.docs.get(BOOKS, new.id) is not None:
            raise BookExists(new.id)
        if new.id is None and await self.docs.get(ISBNS, isbn_key(new.isbn)) is not None:
            raise IsbnTaken(new.isbn)
        position = await self.docs.next_number(POSITION)
        while True:
            book = new.with_id(new.id if new.id is not None else await self._free_id())

            async def work(tx: Tx, book: Book = book) -> bool:
                # The ISBN is read first: on Redis a refusing transaction's reads are not checked
                # together, and a book added in between must still be refused for its id first.
                isbn_owner = await tx.get(ISBNS, isbn_key(book.isbn))
                if await tx.get(BOOKS, book.id) is not None:
                    if new.id is None:
                        return False  # a client chose this id meanwhile: take the next one
                    raise BookExists(book.id)
                if isbn_owner is not None:
                    raise IsbnTaken(book.isbn)
                _put_new(tx, book, position)
                return True

            if await self.docs.atomic(work):
                return book

    async def update_book(self, book_id: str, changes: BookChanges) -> Book:
        async def work(tx: Tx) -> Book:
            doc = await _book_doc(tx, book_id)
            book = Book.from_doc(doc)
            updated = changes.apply(book)
            old_key, new_key = isbn_key(book.isbn), isbn_key(updated.isbn)
            if new_key != old_key:
                if await tx.get(ISBNS, new_key) not in (None, book_id):
                    raise IsbnTaken(updated.isbn)
                if await tx.get(ISBNS, old_key) == book_id:
                    tx.delete(ISBNS, old_key)
                tx.put(ISBNS, new_key, book_id)
            tx.put(BOOKS, book_id, {**doc, **updated.to_doc()})
            return updated

        return await self.docs.atomic(work)

    async def adjust_stock(self, book_id: str, delta: int) -> Book:
        async def work(tx: Tx) -> Book:
            doc = await _book_doc(tx, book_id)
            if doc["stock"] + delta < 0:
                raise NotEnoughStock(Book.from_doc(doc), delta)
            doc = {**doc, "stock": doc["stock"] + delta}
            tx.put(BOOKS, book_id, doc)
            return Book.from_doc(doc)

        return await self.docs.atomic(work)

    async def delete_book(self, book_id: str) -> None:
        async def work(tx: Tx) -> None:
            doc = await _book_doc(tx, book_id)
            # Listed after the book was read: a hold made since then changed the book's stock, so
            # on Redis this transaction runs again and sees it; a hold settled since then changed
            # its hold, read below.
            for order_id in await self.docs.keys(OPEN_HOLDS):
                hold = await _hold(tx, order_id)
                if hold is not None and book_id in hold.quantities():
                    raise BookHeld(book_id)
            tx.delete(BOOKS, book_id)
            if await tx.get(ISBNS, isbn_key(doc["isbn"])) == book_id:
                tx.delete(ISBNS, isbn_key(doc["isbn"]))

        await self.docs.atomic(work)

    async def get_hold(self, order_id: str) -> Hold | None:
        doc = await self.docs.get(HOLDS, order_id)
        return Hold.from_doc(doc) if doc else None

    async def hold(self, order_id: str, wanted: dict[str, int], expires_at: datetime) -> tuple[Hold, bool]:
        async def work(tx: Tx) -> tuple[Hold, bool]:
            existing = await _hold(tx, order_id)
            if existing:
                if existing.quantities() != wanted:
                    raise HoldConflict(f"Order {order_id} already holds other lines")
                return existing, False
            docs = {book_id: await tx.get(BOOKS, book_id) for book_id in wanted}
            short = shortages(wanted, {b: Book.from_doc(doc) if doc else None for b, doc in docs.items()})
            if short:
                raise InsufficientStock(short)
            lines = []
            for book_id, quantity in wanted.items():
                doc = docs[book_id]
                lines.append(HeldLine(book_id, quantity, Decimal(doc["price"])))
                tx.put(BOOKS, book_id, {**doc, "stock": doc["stock"] - quantity})
            hold = Hold(order_id, tuple(lines), "held", expires_at)
            tx.put(HOLDS, order_id, hold.to_doc())
            tx.put(OPEN_HOLDS, order_id, True)
            return hold, True

        return await self.docs.atomic(work)

    async def commit(self, order_id: str) -> tuple[Hold, bool]:
        return await self._settle(order_id, "held", "committed", restock=False)

    async def release(self, order_id: str) -> tuple[Hold, bool]:
        return await self._settle(order_id, "held", "released", restock=True)

    async def return_units(self, order_id: str) -> tuple[Hold, bool]:
        return await self._settle(order_id, "committed", "returned", restock=True)

    async def expire_holds(self, now: datetime) -> Sweep:
        released = []
        still_held: dict[str, Hold] = {}  # by order id: a transaction that runs again overwrites
        for order_id in await self.docs.keys(OPEN_HOLDS):
            # Each its own transaction that reads the hold again: of instances sweeping at once,
            # one releases it and the others find it released.
            async def work(tx: Tx, order_id: str = order_id) -> Hold | None:
                hold = await _hold(tx, order_id)
                if hold is None or hold.status != "held":
                    return None
                if hold.expires_at > now:
                    still_held[order_id] = hold
                    return None
                await _restock(tx, hold)
                return _finish(tx, hold, "released")

            hold = await self.docs.atomic(work)
            if hold is not None:
                released.append(hold)
        return Sweep(tuple(released), tuple(still_held.values()))

    async def open(self) -> None:
        await self.docs.open()

    async def ping(self) -> None:
        await self.docs.ping()

    async def close(self) -> None:
        await self.docs.close()

    async def _free_id(self) -> str:
        """The next generated id, past any id a client chose that is in use."""
        while True:
            book_id = str(FIRST_GENERATED_ID - 1 + await self.docs.next_number(GENERATED))
            if await self.docs.get(BOOKS, book_id) is None:
                return book_id

    async def _settle(
        self, order_id: str, source: HoldStatus, target: HoldStatus, *, restock: bool
    ) -> tuple[Hold, bool]:
        """Move the hold from `source` to `target`; one at `target` already is a retry (False)."""

        async def work(tx: Tx) -> tuple[Hold, bool]:
            hold = await _hold(tx, order_id)
            if hold is None:
                raise HoldNotFound()
            if hold.status == target:
                return hold, False
            if hold.status != source:
                raise HoldConflict(f"Hold for {order_id} is {hold.status}")
            if restock:
                await _restock(tx, hold)
            return _finish(tx, hold, target), True

        return await self.docs.atomic(work)


def _put_new(tx: Tx, book: Book, position: int) -> None:
    tx.put(BOOKS, book.id, {**book.to_doc(), "pos": position})
    tx.put(ISBNS, isbn_key(book.isbn), book.id)


async def _book_doc(tx: Tx, book_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = await tx.get(BOOKS, book_id)
    if doc is None:
        raise BookNotFound()
    return doc


async def _hold(tx: Tx, order_id: str) -> Hold | None:
    doc = await tx.get(HOLDS, order_id)
    return Hold.from_doc(doc) if doc else None


async def _restock(tx: Tx, hold: Hold) -> None:
    for line in hold.lines:
        doc = await tx.get(BOOKS, line.book_id)
        if doc is not None:  # a book deleted meanwhile has no stock to return to
            tx.put(BOOKS, line.book_id, {**doc, "stock": doc["stock"] + line.quantity})


def _finish(tx: Tx, hold: Hold, status: HoldStatus) -> Hold:
    done = Hold(hold.order_id, hold.lines, status, hold.expires_at)
    tx.put(HOLDS, done.order_id, done.to_doc())
    tx.delete(OPEN_HOLDS, done.order_id)
    return done


def _position(doc: dict[str, Any]) -> int:
    return int(doc["pos"])
