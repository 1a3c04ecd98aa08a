"""The books balance after the overload: for every book, the units that left the stock are the units
of the orders that kept them, and no order is left half-way (Pending) once the system settles."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SOLD = ("Confirmed", "Shipped", "Delivered")  # the units left the stock for good


@dataclass(frozen=True)
class Balance:
    orders: int
    pending: int
    off: dict[str, int]  # book -> units missing (+) or sold twice (-) against its orders

    @property
    def ok(self) -> bool:
        return not self.pending and not self.off


def sold_units(orders: Iterable[Mapping[str, Any]]) -> Counter[str]:
    units: Counter[str] = Counter()
    for order in orders:
        if order["status"] in SOLD:
            for line in order["books"]:
                units[line["book_id"]] += int(line["quantity"])
    return units


def balance(
    before: Mapping[str, int], now: Mapping[str, int], orders: Sequence[Mapping[str, Any]]
) -> Balance:
    """`before` and `now`: every book's stock before the first order and after the last."""
    units = sold_units(orders)
    off = {book: before[book] - now[book] - units[book] for book in before}
    return Balance(
        orders=len(orders),
        pending=sum(order["status"] == "Pending" for order in orders),
        off={book: n for book, n in off.items() if n},
    )


def _get(url: str, headers: Mapping[str, str], attempts: int = 10) -> tuple[Any, str | None]:
    """GET `url`; a 503 or 429 (a system still shedding the overload runs' queue) is retried after
    its Retry-After, as a client would, `attempts` times in all."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=dict(headers)), timeout=30) as r:
                return json.load(r), r.headers.get("link")
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 503) or attempt == attempts - 1:
                raise
            time.sleep(min(float(exc.headers.get("retry-after") or 1), 5))
    raise AssertionError("unreachable")


def stocks(base: str, headers: Mapping[str, str], books: Iterable[str]) -> dict[str, int]:
    return {book: int(_get(f"{base}/api/books/{book}", headers)[0]["stock"]) for book in books}


def all_orders(base: str, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    path: str | None = "/api/orders?limit=1000"
    while path is not None:
        page, link = _get(base + path, headers)
        found += page.values()
        path = link[1 : link.index(">")] if link else None
    return found


def check(base: str, headers: Mapping[str, str], before: Mapping[str, int], settle: float = 30.0) -> Balance:
    """Wait (up to `settle` s: holds expire, recovery finishes orders) until the books balance."""
    deadline = time.monotonic() + settle
    while True:
        result = balance(before, stocks(base, headers, before), all_orders(base, headers))
        if result.ok or time.monotonic() > deadline:
            return result
        time.sleep(2)
