"""Inventory's wire schemas (public books and the internal hold calls)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from inventory_service.domain import Book, BookChanges, Hold, NewBook, normalize_isbn
from shared.schemas import WHOLE, Money

MAX_STOCK = 1_000_000_000
EXAMPLE: dict[str, Any] = {
    "title": "Brave New World",
    "author": "Aldous Huxley",
    "price": 14.5,
    "stock": 20,
    "isbn": "978-0-06-085052-4",
}


def _number(value: Any) -> Any:
    if isinstance(value, str):  # "15.99" in quotes is a string, not the JSON number money is
        raise ValueError("must be a JSON number")
    return value


def _isbn(value: str) -> str:
    isbn = normalize_isbn(value)
    if isbn is None:
        raise ValueError("not a valid ISBN-10 or ISBN-13 (check digit)")
    return isbn


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
MAX_PRICE = 1_000_000
Price = Annotated[
    Money,
    BeforeValidator(_number),
    Field(gt=0, le=MAX_PRICE),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_PRICE,
            "multipleOf": 0.01,
            "examples": [15.99],
        }
    ),
]
Isbn = Annotated[
    str,
    Field(
        max_length=32,
        # 10 characters (the last may be X) or 13 digits once hyphens and spaces are dropped.
        pattern=r"^[- ]*(?:[0-9][- ]*){9}(?:[0-9Xx]|(?:[0-9][- ]*){3}[0-9])[- ]*$",
        description="ISBN-10 or ISBN-13; hyphens and spaces are dropped. Its check digit is verified: "
        "one that does not add up is refused (400).",
    ),
    AfterValidator(_isbn),
]
BookId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _book_fields(book: Book) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "price": book.price,
        "stock": book.stock,
        "isbn": book.isbn,
    }


class BookOut(BaseModel):
    id: str
    title: str
    author: str
    price: Money
    stock: int
    isbn: str

    @classmethod
    def of(cls, book: Book) -> BookOut:
        return cls.model_validate(_book_fields(book))

    @staticmethod
    def json_of(book: Book) -> bytes:
        """`of(book)`'s JSON, serialised once (orjson) without building the model: for the
        hottest reads, whose route declares this model for the API description."""
        return _dumps(_book_fields(book))


class BookIn(BaseModel):
    """A new book; without `id` it gets the next free generated one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE, {**EXAMPLE, "id": "brave-new-world", "isbn": "0060850523"}]},
    )

    id: Annotated[BookId | None, Field(description="1-64 letters, digits, `_` or `-`")] = None
    title: Text
    author: Text
    price: Price
    stock: Annotated[StrictInt, Field(ge=0, le=MAX_STOCK), WHOLE]
    isbn: Isbn

    def new_book(self) -> NewBook:
        return NewBook(self.id, self.title, self.author, self.price, self.stock, self.isbn)


class BookPatch(BaseModel):
    """The fields to change; at least one. Stock changes go through `POST /api/books/{id}/stock`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "minProperties": 1,
            "examples": [{"price": 13.49}, {"title": "Nineteen Eighty-Four"}],
        },
    )

    # Left out means unchanged; an explicit null is refused, so the schema does not offer it.
    title: Text | SkipJsonSchema[None] = None
    author: Text | SkipJsonSchema[None] = None
    price: Price | SkipJsonSchema[None] = None
    isbn: Isbn | SkipJsonSchema[None] = None

    @field_validator("title", "author", "price", "isbn", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:  # only fields that were sent get here
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value

    def changes(self) -> BookChanges:
        return BookChanges(self.title, self.author, self.price, self.isbn)


class StockIn(BaseModel):
    """How many units to add (or, negative, remove)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"delta": 10}, {"delta": -5}]})

    delta: Annotated[StrictInt, Field(ge=-MAX_STOCK, le=MAX_STOCK), WHOLE]


class HoldLineIn(BaseModel):
    book_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000), WHOLE]


class HoldIn(BaseModel):
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    lines: Annotated[list[HoldLineIn], Field(min_length=1, max_length=1000)]
    max_total: Money | None = None  # hold nothing when the lines would cost more

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


class HoldOut(BaseModel):
    order_id: str
    status: str
    lines: list[HeldLineOut]
    expires_at: datetime

    @classmethod
    def of(cls, r: Hold) -> HoldOut:
        return cls.model_validate(_hold_fields(r))

    @staticmethod
    def json_of(r: Hold) -> bytes:
        """`of(r)`'s JSON, serialised once (orjson): every hold call of every order answers one."""
        return _dumps(_hold_fields(r))


def _hold_fields(r: Hold) -> dict[str, Any]:
    lines = [{"book_id": ln.book_id, "quantity": ln.quantity, "unit_price": ln.unit_price} for ln in r.lines]
    return {"order_id": r.order_id, "status": r.status, "lines": lines, "expires_at": r.expires_at}


def _dumps(fields: dict[str, Any]) -> bytes:
    # Money as a JSON number (as `Money` serialises it), an aware UTC time ending in Z (as pydantic)
    return orjson.dumps(fields, default=float, option=orjson.OPT_UTC_Z)
