"""Pages of a collection: a cursor is the opaque form of the last sort key a page ended on."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.errors import BadRequest

T = TypeVar("T")
U = TypeVar("U")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page: its items in order, how many match in all, and where the next page starts."""

    items: list[T]
    total: int
    next_after: int | None = None

    def map(self, f: Callable[[T], U]) -> Page[U]:
        return Page([f(item) for item in self.items], self.total, self.next_after)


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{after}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, after = text.partition(":")
        if version != "v1" or not after.isdigit() or len(after) > 18:
            raise ValueError(text)
        return int(after)
    except ValueError:
        raise BadRequest(
            "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor we gave"}]
        ) from None


def take(
    scan: Iterable[tuple[int, T]], limit: int, keep: Callable[[T], bool] | None = None
) -> tuple[list[T], int | None]:
    """Up to `limit` kept items from an ordered scan, and the cursor of the next page if there is one."""
    items: list[T] = []
    last: int | None = None
    for sort, item in scan:
        if keep is not None and not keep(item):
            continue
        if len(items) == limit:
            return items, last
        items.append(item)
        last = sort
    return items, None
