"""Inventory's wire schemas (public books and the internal reservation calls)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, field_validator

from inventory_service.domain import Book, Reservation
from shared.schemas import Money


class BookOut(BaseModel):
    id: str
    title: str
    author: str
    price: Money
    stock: int
    isbn: str

    @classmethod
    def of(cls, book: Book) -> BookOut:
        return cls(
            id=book.id,
            title=book.title,
            author=book.author,
            price=book.price,
            stock=book.stock,
            isbn=book.isbn,
        )


class HoldLineIn(BaseModel):
    book_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]


class HoldIn(BaseModel):
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    lines: Annotated[list[HoldLineIn], Field(min_length=1, max_length=1000)]

    @field_validator("lines")
    @classmethod
    def _one_line_per_book(cls, lines: list[HoldLineIn]) -> list[HoldLineIn]:
        if len({line.book_id for line in lines}) != len(lines):
            raise ValueError("each book may appear once")
        return lines

    def wanted(self) -> dict[str, int]:
        return {line.book_id: line.quantity for line in self.lines}


class HeldLineOut(BaseModel):
    book_id: str
    quantity: int
    unit_price: Money


class ReservationOut(BaseModel):
    order_id: str
    status: str
    lines: list[HeldLineOut]
    expires_at: datetime

    @classmethod
    def of(cls, r: Reservation) -> ReservationOut:
        lines = [
            HeldLineOut(book_id=ln.book_id, quantity=ln.quantity, unit_price=ln.unit_price) for ln in r.lines
        ]
        return cls(order_id=r.order_id, status=r.status, lines=lines, expires_at=r.expires_at)
