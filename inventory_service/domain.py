"""Inventory's domain: books, holds of stock for an order, the catalog's rules and their errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.errors import BadRequest, Conflict, NotFound

HoldStatus = Literal["held", "committed", "released", "returned"]

FIRST_GENERATED_ID = 1000  # generated ids start here, clear of the default catalog's
# The most units of one book a stock change may leave in stock: numbers stay exact in the Redis
# scripts' JSON (Lua's cjson writes 1e+14 and above in exponent form).
STOCK_LIMIT = 10**12
_ISBN10 = re.compile(r"[0-9]{9}[0-9X]")
_ISBN13 = re.compile(r"[0-9]{13}")


@dataclass(frozen=True, slots=True)
class Book:
    """A catalog entry; `stock` is what can still be ordered now (held units are not in it)."""

    id: str
    title: str
    author: str
    price: Decimal
    stock: int
    isbn: str

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "author": self.author,
            "price": str(self.price),
            "stock": self.stock,
            "isbn": self.isbn,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Book:
        return cls(doc["id"], doc["title"], doc["author"], Decimal(doc["price"]), doc["stock"], doc["isbn"])


@dataclass(frozen=True, slots=True)
class NewBook:
    """A book to add; without an id the store gives it the next free generated one."""

    id: str | None
    title: str
    author: str
    price: Decimal
    stock: int
    isbn: str

    def with_id(self, book_id: str) -> Book:
        return Book(book_id, self.title, self.author, self.price, self.stock, self.isbn)


@dataclass(frozen=True, slots=True)
class BookChanges:
    """The fields of a book an edit replaces; None leaves a field as it is."""

    title: str | None = None
    author: str | None = None
    price: Decimal | None = None
    isbn: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def apply(self, book: Book) -> Book:
        return Book(
            book.id,
            self.title if self.title is not None else book.title,
            self.author if self.author is not None else book.author,
            self.price if self.price is not None else book.price,
            book.stock,
            self.isbn if self.isbn is not None else book.isbn,
        )


@dataclass(frozen=True, slots=True)
class BookQuery:
    """A catalog filter: `q` is a case-insensitive substring of title or author, `author` a
    case-insensitive exact match, `in_stock` whether stock is above zero."""

    q: str | None = None
    author: str | None = None
    in_stock: bool | None = None

    def matches(self, book: Book) -> bool:
        if self.q is not None:
            needle = self.q.casefold()
            if needle not in book.title.casefold() and needle not in book.author.casefold():
                return False
        if self.author is not None and book.author.casefold() != self.author.casefold():
            return False
        return self.in_stock is None or (book.stock > 0) == self.in_stock


@dataclass(frozen=True, slots=True)
class HeldLine:
    book_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Hold:
    """Units of one or more books held for one order, until committed, released or expired;
    a committed one is `returned` when its order is cancelled and its units go back to stock."""

    order_id: str
    lines: tuple[HeldLine, ...]
    status: HoldStatus
    expires_at: datetime

    def quantities(self) -> dict[str, int]:
        return {line.book_id: line.quantity for line in self.lines}

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def to_doc(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "lines": [[ln.book_id, ln.quantity, str(ln.unit_price)] for ln in self.lines],
            "status": self.status,
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Hold:
        lines = tuple(HeldLine(b, q, Decimal(p)) for b, q, p in doc["lines"])
        return cls(doc["order_id"], lines, doc["status"], datetime.fromisoformat(doc["expires_at"]))


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one expiry sweep did: the holds it released, and those still held (not yet due)."""

    released: tuple[Hold, ...]
    still_held: tuple[Hold, ...]


def normalize_isbn(raw: str) -> str | None:
    """The ISBN's digits (an ISBN-10 may end in X) without hyphens or spaces, when it is a valid
    ISBN-10 or ISBN-13 by its checksum; otherwise None."""
    text = raw.replace("-", "").replace(" ", "").upper()
    if _ISBN10.fullmatch(text):
        total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(text))
        return text if total % 11 == 0 else None
    if _ISBN13.fullmatch(text):
        total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(text))
        return text if total % 10 == 0 else None
    return None


def isbn_key(isbn: str) -> str:
    """One key per book whichever form its ISBN is written in: an ISBN-10 as its 978 ISBN-13."""
    if len(isbn) != 10:
        return isbn
    body = "978" + isbn[:9]
    check = -sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10
    return body + str(check)


def shortages(wanted: dict[str, int], books: dict[str, Book | None]) -> list[dict[str, Any]]:
    """Every line that cannot be held in full; unknown books are available 0."""
    short = []
    for book_id, quantity in wanted.items():
        book = books.get(book_id)
        available = book.stock if book else 0
        if available < quantity:
            short.append({"book_id": book_id, "requested": quantity, "available": available})
    return short


class BookNotFound(NotFound):
    message = "Book not found"


class BookExists(Conflict):
    def __init__(self, book_id: str) -> None:
        super().__init__(f"Book {book_id} already exists")


class IsbnTaken(Conflict):
    def __init__(self, isbn: str) -> None:
        super().__init__(f"ISBN {isbn} is already in the catalog")


class NothingToChange(BadRequest):
    message = "Nothing to change"


class NotEnoughStock(Conflict):
    """A stock change would take the stock below zero; nothing changed."""

    def __init__(self, book: Book, delta: int) -> None:
        super().__init__(
            f"Not enough stock of book {book.id} to remove {-delta}",
            details=[{"book_id": book.id, "stock": book.stock, "delta": delta}],
        )


class TooMuchStock(Conflict):
    """A stock change would take the stock above STOCK_LIMIT; nothing changed."""

    def __init__(self, book: Book, delta: int) -> None:
        super().__init__(
            f"Stock of book {book.id} would exceed {STOCK_LIMIT} units",
            details=[{"book_id": book.id, "stock": book.stock, "delta": delta}],
        )


class BookHeld(Conflict):
    def __init__(self, book_id: str) -> None:
        super().__init__(f"Book {book_id} has units held for orders in progress")


class InsufficientStock(Conflict):
    """Some requested books are unknown or short; nothing was held."""

    def __init__(self, shortages: list[dict[str, Any]]) -> None:
        first = shortages[0]["book_id"]
        super().__init__(f"Book {first} not available or insufficient stock", details=shortages)


class TotalTooLarge(BadRequest):
    """The held lines would cost more than the caller can take; nothing was held."""

    def __init__(self, total: Decimal, max_total: Decimal) -> None:
        message = f"The order's total {total} is over the most an order may cost ({max_total})"
        super().__init__(message, details=[{"field": "total", "message": message, "max": str(max_total)}])


class HoldNotFound(NotFound):
    message = "Hold not found"


class HoldConflict(Conflict):
    """The hold exists in a state (or with lines) that the request does not fit."""


DEFAULT_CATALOG = (
    Book("123", "The Great Gatsby", "F. Scott Fitzgerald", Decimal("15.99"), 50, "9780743273565"),
    Book("456", "1984", "George Orwell", Decimal("12.99"), 30, "9780451524935"),
    Book("789", "To Kill a Mockingbird", "Harper Lee", Decimal("14.99"), 25, "9780061120084"),
)
