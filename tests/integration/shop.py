"""Small client-side helpers for integration tests: placing orders and checking the stock books."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


def order_body(book_id: str = "789", quantity: int = 1, token: str = "tok_visa") -> dict[str, Any]:
    return {
        "customer_id": "cust_001",
        "books": [{"book_id": book_id, "quantity": quantity}],
        "payment_method": "credit_card",
        "payment_token": token,
    }


async def stock(client: httpx.AsyncClient, book_id: str) -> int:
    response = await client.get(f"/api/books/{book_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


async def all_orders(client: httpx.AsyncClient, up_to: int = 1000) -> list[dict[str, Any]]:
    """Every stored order (at most `up_to`), read through the paged listing: a few requests, not one
    per order, so polling it stays far below the gateway's rate limit."""
    found: list[dict[str, Any]] = []
    url: str | None = f"/api/orders?limit={min(up_to, 1000)}"
    while url is not None and len(found) < up_to:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        found += response.json().values()
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return found


def sold(orders: list[dict[str, Any]], book_id: str) -> int:
    return sum(
        line["quantity"]
        for order in orders
        if order["status"] == "Confirmed"
        for line in order["books"]
        if line["book_id"] == book_id
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> bool:
    """Poll `check` until it holds or `within` seconds pass (waits for an event; asserts no speed)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return await check()
