"""Inventory's store: the interface in domain words, and its one implementation on `Docs` (in memory,
the JSON journal, or Redis shared by several instances), each change one transaction whose body is
in `documents.py`; the moves of a hold and stock changes are `rules.py`'s, one script each on Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import partial  # binds a loop's variable where a lambda would not
from typing import Any, Protocol

from inventory_service import documents, rules
from inventory_service.documents import BOOKS, GENERATED, HOLDS, ISBNS, META, OPEN_HOLDS, POSITION
from inventory_service.domain import (
    FIRST_GENERATED_ID,
    Book,
    BookChanges,
    BookExists,
    BookQuery,
    Hold,
    IsbnTaken,
    NewBook,
    Sweep,
    isbn_key,
)
from shared.paging import DEFAULT_LIMIT, Page
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs


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
        """Add `delta` (negative: remove) to the stock; NotEnoughStock when it would go below zero,
        TooMuchStock above STOCK_LIMIT."""

    async def delete_book(self, book_id: str) -> None:
        """Remove a book; BookNotFound, or BookHeld while a hold in progress includes it."""

    async def hold(
        self, order_id: str, wanted: dict[str, int], expires_at: datetime, max_total: Decimal | None = None
    ) -> tuple[Hold, bool]:
        """Take `wanted` units out of stock for `order_id`, all lines or none (InsufficientStock),
        and none when they would cost more than `max_total` (TotalTooLarge).

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
    """The inventory store on any `Docs` backend: every change is one transaction."""

    def __init__(self, docs: Docs | Tables) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs
        self.docs.order(BOOKS, documents.position, indexes={"author": documents.author})

    async def seed(self, books: Iterable[Book]) -> None:
        if await self.docs.get(META, "seeded"):
            return  # every start but the first: spend no positions
        placed = [(book, await self.docs.next_number(POSITION)) for book in books]
        await self.docs.atomic(lambda tx: documents.seed(tx, placed))

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
        place = await self.docs.next_number(POSITION)
        generated = new.id is None
        while True:
            book = new.with_id(new.id if new.id is not None else await self._free_id())
            if await self.docs.atomic(
                partial(documents.add_book, book=book, place=place, generated=generated)
            ):
                return book

    async def update_book(self, book_id: str, changes: BookChanges) -> Book:
        return await self.docs.atomic(lambda tx: documents.update_book(tx, book_id, changes))

    async def adjust_stock(self, book_id: str, delta: int) -> Book:
        return await self.docs.decide(rules.adjust_stock(book_id, delta))

    async def delete_book(self, book_id: str) -> None:
        open_holds = lambda: self.docs.keys(OPEN_HOLDS)  # noqa: E731
        await self.docs.atomic(lambda tx: documents.delete_book(tx, book_id, open_holds))

    async def get_hold(self, order_id: str) -> Hold | None:
        doc = await self.docs.get(HOLDS, order_id)
        return Hold.from_doc(doc) if doc else None

    async def hold(
        self, order_id: str, wanted: dict[str, int], expires_at: datetime, max_total: Decimal | None = None
    ) -> tuple[Hold, bool]:
        return await self.docs.decide(rules.hold(order_id, wanted, expires_at, max_total))

    async def commit(self, order_id: str) -> tuple[Hold, bool]:
        return await self.docs.decide(rules.settle(order_id, "held", "committed", restock=False))

    async def release(self, order_id: str) -> tuple[Hold, bool]:
        return await self.docs.decide(rules.settle(order_id, "held", "released", restock=True))

    async def return_units(self, order_id: str) -> tuple[Hold, bool]:
        return await self.docs.decide(rules.settle(order_id, "committed", "returned", restock=True))

    async def expire_holds(self, now: datetime) -> Sweep:
        released: list[Hold] = []
        still_held: list[Hold] = []
        for order_id in await self.docs.keys(OPEN_HOLDS):
            # Each its own transaction that reads the hold again: of instances sweeping at once,
            # one releases it and the others find it released.
            try:
                hold = await self.docs.decide(rules.expire(order_id, now))
            except rules.Unsure:  # a time the script cannot compare: the transaction decides
                hold = await self.docs.atomic(partial(documents.expire, order_id=order_id, now=now))
            if hold is not None:
                (released if hold.status == "released" else still_held).append(hold)
        return Sweep(tuple(released), tuple(still_held))

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
