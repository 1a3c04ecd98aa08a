"""Concurrent buyers against the real system: no unit is ever sold twice."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import all_orders, order_body, sold, stock

# The same on the JSON default and on Redis with two instances of every service.
pytestmark = pytest.mark.parametrize("system", ["json", "redis"], indirect=True)


async def test_two_hundred_buyers_for_25_copies_make_exactly_25_orders(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/orders", json=order_body("789")) for _ in range(200))
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 25, sorted(set(statuses))
    assert statuses.count(400) == 175
    refused = next(r.json() for r in responses if r.status_code == 400)
    assert refused["error"] == "Book 789 not available or insufficient stock"
    assert refused["details"][0]["book_id"] == "789"
    assert await stock(client, "789") == 0

    confirmed = [r.json() for r in responses if r.status_code == 201]
    assert len({o["order_id"] for o in confirmed}) == 25
    for order in confirmed:
        assert (await client.get(f"/api/orders/{order['order_id']}")).json() == order
    stored = await all_orders(client, max(int(o["order_id"].split("_")[1]) for o in confirmed))
    assert sold(stored, "789") == 25
    assert all(o["status"] == "Confirmed" for o in stored)


async def test_buyers_of_two_books_at_once_never_get_half_an_order(client: httpx.AsyncClient) -> None:
    body = order_body("789", 2)
    body["books"].append({"book_id": "456", "quantity": 3})  # 30 copies: only 10 such orders fit
    responses = await asyncio.gather(*(client.post("/api/orders", json=body) for _ in range(40)))

    placed = sum(r.status_code == 201 for r in responses)
    assert placed == 10  # 456 runs out first: 10 x 3 = 30
    assert await stock(client, "456") == 0
    assert await stock(client, "789") == 25 - 2 * placed
