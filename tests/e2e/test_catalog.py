"""The catalog through the gateway of the real system (on JSON, and on Redis with two instances of
every service): adding, editing, restocking and removing a book, pages that follow their Link, and
stock changes racing orders without a lost update."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import all_orders, order_body, sold, stock

# The same on the JSON default and on Redis with two instances of every service.
BOTH_STORES = pytest.mark.parametrize("system", ["json", "redis"], indirect=True)
BRAVE = {
    "id": "brave",
    "title": "Brave New World",
    "author": "Aldous Huxley",
    "price": 14.5,
    "stock": 20,
    "isbn": "9780060850524",
}


def error(response: httpx.Response, status: int, message: str, **extra: Any) -> None:
    """The exact error envelope, with the request id the response carries."""
    assert response.status_code == status, response.text
    assert response.json() == {"error": message, **extra, "request_id": response.headers["x-request-id"]}


@BOTH_STORES
async def test_a_book_is_added_edited_restocked_and_removed_through_the_gateway(
    client: httpx.AsyncClient,
) -> None:
    added = await client.post("/api/books", json={**BRAVE, "isbn": "978-0-06-085052-4"})
    assert added.status_code == 201, added.text
    assert added.json() == BRAVE
    assert (await client.get("/api/books/brave")).json() == BRAVE

    error(await client.post("/api/books", json={**BRAVE, "id": "123"}), 409, "Book 123 already exists")
    error(
        await client.post("/api/books", json={**BRAVE, "id": "other", "isbn": "0-06-085052-3"}),
        409,
        "ISBN 0060850523 is already in the catalog",
    )

    edited = await client.patch("/api/books/brave", json={"price": 12.25, "title": "Brave New World!"})
    assert edited.status_code == 200, edited.text
    assert edited.json() == {**BRAVE, "price": 12.25, "title": "Brave New World!"}
    error(await client.patch("/api/books/brave", json={}), 400, "Nothing to change")

    restocked = await client.post("/api/books/brave/stock", json={"delta": 5})
    assert restocked.status_code == 200, restocked.text
    assert restocked.json()["stock"] == 25
    error(
        await client.post("/api/books/brave/stock", json={"delta": -26}),
        409,
        "Not enough stock of book brave to remove 26",
        details=[{"book_id": "brave", "stock": 25, "delta": -26}],
    )
    assert await stock(client, "brave") == 25

    removed = await client.delete("/api/books/brave")
    assert removed.status_code == 204
    assert removed.content == b""
    error(await client.get("/api/books/brave"), 404, "Book not found")
    assert list((await client.get("/api/books")).json()) == ["123", "456", "789"]


@BOTH_STORES
async def test_a_book_on_an_order_in_progress_is_not_removed_and_a_sold_one_is(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    placed = await client.post("/api/orders", json=order_body("789", 2))
    assert placed.status_code == 201, placed.text
    async with httpx.AsyncClient(base_url=system.service_url("inventory")) as inventory:
        hold = b'{"order_id": "manual", "lines": [{"book_id": "456", "quantity": 1}]}'
        held = await inventory.post(
            "/internal/holds",
            content=hold,
            headers={**system.signed("POST", "/internal/holds", hold), "content-type": "application/json"},
        )
        assert held.status_code == 201, held.text

        error(await client.delete("/api/books/456"), 409, "Book 456 has units held for orders in progress")
        assert (await client.delete("/api/books/789")).status_code == 204  # its order is committed

        release = "/internal/holds/manual/release"
        released = await inventory.post(release, headers=system.signed("POST", release))
        assert released.status_code == 200, released.text
    assert (await client.delete("/api/books/456")).status_code == 204


async def test_without_a_token_a_books_route_is_401_before_anything_else(system: LocalSystem) -> None:
    async with httpx.AsyncClient(base_url=system.url) as anonymous:
        response = await anonymous.post("/api/books/999/stock", json={"delta": 1})

    error(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@BOTH_STORES
async def test_pages_arrive_through_the_gateway_and_their_link_is_followed(client: httpx.AsyncClient) -> None:
    await client.post("/api/books", json=BRAVE)

    first = await client.get("/api/books", params={"limit": 2, "q": "e"})
    link = first.headers["link"]
    assert link.startswith("</api/books?") and link.endswith('>; rel="next"')
    second = await client.get(link.removeprefix("<").split(">;")[0])

    assert list(first.json()) == ["123", "456"]
    assert list(second.json()) == ["789", "brave"]
    assert first.headers["x-total-count"] == second.headers["x-total-count"] == "4"
    assert "link" not in second.headers
    too_many = [{"field": "query.limit", "message": "Input should be less than or equal to 1000"}]
    error(await client.get("/api/books?limit=1001"), 400, "Invalid request", details=too_many)


@BOTH_STORES
async def test_stock_changes_racing_orders_on_one_book_add_up_exactly(client: httpx.AsyncClient) -> None:
    # 40 in stock before the race, and only 30 orders and 10 removals can take units: none can be
    # refused, so every number below is exact whatever the interleaving.
    assert (await client.post("/api/books/456/stock", json={"delta": 10})).json()["stock"] == 40

    calls = []
    for n in range(30):  # one order and one addition each round, a removal every third round
        calls.append(client.post("/api/orders", json=order_body("456")))
        calls.append(client.post("/api/books/456/stock", json={"delta": 1}))
        if n % 3 == 0:
            calls.append(client.post("/api/books/456/stock", json={"delta": -1}))
    responses = await asyncio.gather(*calls)

    placed = [r for r in responses if r.request.url.path == "/api/orders"]
    changed = [r for r in responses if r.request.url.path != "/api/orders"]
    assert [r.status_code for r in placed] == [201] * 30, {r.status_code: r.text for r in placed}
    assert [r.status_code for r in changed] == [200] * 40, {r.status_code: r.text for r in changed}
    assert all(r.json()["status"] == "Confirmed" for r in placed)
    assert await stock(client, "456") == 40 + 30 - 30 - 10
    stored = await all_orders(client, 30)
    assert sold(stored, "456") == 30
