"""Inventory's domain: books, holds of stock for an order, and the errors their rules raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.errors import Conflict, NotFound

HoldStatus = Literal["held", "committed", "released"]


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
class HeldLine:
    book_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units of one or more books held for one order, until committed, released or expired."""

    order_id: str
    lines: tuple[HeldLine, ...]
    status: HoldStatus
    expires_at: datetime

    def quantities(self) -> dict[str, int]:
        return {line.book_id: line.quantity for line in self.lines}

    def to_doc(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "lines": [[ln.book_id, ln.quantity, str(ln.unit_price)] for ln in self.lines],
            "status": self.status,
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Reservation:
        lines = tuple(HeldLine(b, q, Decimal(p)) for b, q, p in doc["lines"])
        return cls(doc["order_id"], lines, doc["status"], datetime.fromisoformat(doc["expires_at"]))


class BookNotFound(NotFound):
    message = "Book not found"


class InsufficientStock(Conflict):
    """Some requested books are unknown or short; nothing was held."""

    def __init__(self, shortages: list[dict[str, Any]]) -> None:
        first = shortages[0]["book_id"]
        super().__init__(f"Book {first} not available or insufficient stock", details=shortages)


class ReservationNotFound(NotFound):
    message = "Reservation not found"


class ReservationConflict(Conflict):
    """The reservation exists in a state (or with lines) that the request does not fit."""


def shortages(wanted: dict[str, int], books: dict[str, Book | None]) -> list[dict[str, Any]]:
    """Every line that cannot be held in full; unknown books are available 0."""
    short = []
    for book_id, quantity in wanted.items():
        book = books.get(book_id)
        available = book.stock if book else 0
        if available < quantity:
            short.append({"book_id": book_id, "requested": quantity, "available": available})
    return short


DEFAULT_CATALOG = (
    Book("123", "The Great Gatsby", "F. Scott Fitzgerald", Decimal("15.99"), 50, "9780743273565"),
    Book("456", "1984", "George Orwell", Decimal("12.99"), 30, "9780451524935"),
    Book("789", "To Kill a Mockingbird", "Harper Lee", Decimal("14.99"), 25, "9780061120084"),
)
