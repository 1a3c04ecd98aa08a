"""How inventory keeps its books and holds as documents: the tables, the counters, and the body of
each change, run as one `Docs.atomic` transaction. A body reads through `tx`, decides, and buffers
its writes; on Redis it may run again when another instance changed what it read, so it does
nothing else. `hold`, `settle` and `adjust_stock` are the twins of `rules.py`'s Lua scripts: on
Redis the scripts decide, here these do; a change to one is a change to both.

Each book document keeps its catalog position `pos`, the cursor of the catalog's pages; `isbns`
maps each ISBN (as ISBN-13) to its book."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from inventory_service.domain import (
    STOCK_LIMIT,
    Book,
    BookChanges,
    BookExists,
    BookHeld,
    BookNotFound,
    HeldLine,
    Hold,
    HoldConflict,
    HoldNotFound,
    HoldStatus,
    InsufficientStock,
    IsbnTaken,
    NotEnoughStock,
    TooMuchStock,
    TotalTooLarge,
    isbn_key,
    shortages,
)
from shared.store.docs import Tx

BOOKS, ISBNS, META = "books", "isbns", "meta"
# Every hold by order id, and the ids of those in progress (held) for removal checks and expiry.
# The first kept its name from before the word was "hold": stored data must still load.
HOLDS, OPEN_HOLDS = "reservations", "holds"
POSITION = "book_position"  # counter of catalog positions
GENERATED = "generated_book"  # counter of generated ids: the n-th is FIRST_GENERATED_ID - 1 + n


def position(doc: dict[str, Any]) -> int:
    """A book's place in the catalog: the sort key of its pages."""
    return int(doc["pos"])


def author(doc: dict[str, Any]) -> str:
    """The author index's key: one list per author, whatever the case."""
    return str(doc["author"]).casefold()


async def seed(tx: Tx, books: Iterable[tuple[Book, int]]) -> None:
    if await tx.get(META, "seeded"):
        return  # another instance starting at the same time seeded first
    for book, place in books:
        _put_new(tx, book, place)
    tx.put(META, "seeded", True)


async def add_book(tx: Tx, book: Book, place: int, *, generated: bool) -> bool:
    """False when a client chose the generated id meanwhile (take the next one)."""
    # The ISBN is read first: on Redis a refusing transaction's reads are not checked together,
    # and a book added in between must still be refused for its id first.
    isbn_owner = await tx.get(ISBNS, isbn_key(book.isbn))
    if await tx.get(BOOKS, book.id) is not None:
        if generated:
            return False
        raise BookExists(book.id)
    if isbn_owner is not None:
        raise IsbnTaken(book.isbn)
    _put_new(tx, book, place)
    return True


async def update_book(tx: Tx, book_id: str, changes: BookChanges) -> Book:
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


async def adjust_stock(tx: Tx, book_id: str, delta: int) -> Book:
    doc = await _book_doc(tx, book_id)
    if doc["stock"] + delta < 0:
        raise NotEnoughStock(Book.from_doc(doc), delta)
    if doc["stock"] + delta > STOCK_LIMIT:
        raise TooMuchStock(Book.from_doc(doc), delta)
    doc = {**doc, "stock": doc["stock"] + delta}
    tx.put(BOOKS, book_id, doc)
    return Book.from_doc(doc)


async def delete_book(tx: Tx, book_id: str, open_holds: Callable[[], Awaitable[list[str]]]) -> None:
    doc = await _book_doc(tx, book_id)
    # Listed after the book was read: a hold made since then changed the book's stock, so on
    # Redis this transaction runs again and sees it; a hold settled since then changed its hold,
    # read below.
    for order_id in await open_holds():
        hold = await read_hold(tx, order_id)
        if hold is not None and book_id in hold.quantities():
            raise BookHeld(book_id)
    tx.delete(BOOKS, book_id)
    if await tx.get(ISBNS, isbn_key(doc["isbn"])) == book_id:
        tx.delete(ISBNS, isbn_key(doc["isbn"]))


async def hold(
    tx: Tx, order_id: str, wanted: dict[str, int], expires_at: datetime, max_total: Decimal | None = None
) -> tuple[Hold, bool]:
    existing = await read_hold(tx, order_id)
    if existing:
        if existing.quantities() != wanted:
            raise HoldConflict(f"Order {order_id} already holds other lines")
        return existing, False
    docs = {book_id: await tx.get(BOOKS, book_id) for book_id in wanted}
    short = shortages(wanted, {b: Book.from_doc(doc) if doc else None for b, doc in docs.items()})
    if short:
        raise InsufficientStock(short)
    lines = [
        HeldLine(book_id, quantity, Decimal(docs[book_id]["price"])) for book_id, quantity in wanted.items()
    ]
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if max_total is not None and total > max_total:
        raise TotalTooLarge(total, max_total)
    for book_id, quantity in wanted.items():
        doc = docs[book_id]
        tx.put(BOOKS, book_id, {**doc, "stock": doc["stock"] - quantity})
    made = Hold(order_id, tuple(lines), "held", expires_at)
    tx.put(HOLDS, order_id, made.to_doc())
    tx.put(OPEN_HOLDS, order_id, True)
    return made, True


async def settle(
    tx: Tx, order_id: str, source: HoldStatus, target: HoldStatus, *, restock: bool
) -> tuple[Hold, bool]:
    """Move the hold from `source` to `target`; one at `target` already is a retry (False)."""
    found = await read_hold(tx, order_id)
    if found is None:
        raise HoldNotFound()
    if found.status == target:
        return found, False
    if found.status != source:
        raise HoldConflict(f"Hold for {order_id} is {found.status}")
    if restock:
        await _restock(tx, found)
    return _finish(tx, found, target), True


async def expire(tx: Tx, order_id: str, now: datetime) -> Hold | None:
    """Release the hold if its time is up as of `now`: the hold as it is now, released or still
    held; None when it is no longer held (settled, or released by another sweep)."""
    found = await read_hold(tx, order_id)
    if found is None or found.status != "held":
        return None
    if found.expires_at > now:
        return found
    await _restock(tx, found)
    return _finish(tx, found, "released")


async def read_hold(tx: Tx, order_id: str) -> Hold | None:
    doc = await tx.get(HOLDS, order_id)
    return Hold.from_doc(doc) if doc else None


def _put_new(tx: Tx, book: Book, place: int) -> None:
    tx.put(BOOKS, book.id, {**book.to_doc(), "pos": place})
    tx.put(ISBNS, isbn_key(book.isbn), book.id)


async def _book_doc(tx: Tx, book_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = await tx.get(BOOKS, book_id)
    if doc is None:
        raise BookNotFound()
    return doc


async def _restock(tx: Tx, held: Hold) -> None:
    for line in held.lines:
        doc = await tx.get(BOOKS, line.book_id)
        if doc is not None:  # a book deleted meanwhile has no stock to return to
            tx.put(BOOKS, line.book_id, {**doc, "stock": doc["stock"] + line.quantity})


def _finish(tx: Tx, held: Hold, status: HoldStatus) -> Hold:
    done = Hold(held.order_id, held.lines, status, held.expires_at)
    tx.put(HOLDS, done.order_id, done.to_doc())
    tx.delete(OPEN_HOLDS, done.order_id)
    return done
