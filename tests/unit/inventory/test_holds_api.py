"""Inventory's internal hold API over HTTP: a hold is 201 then 200 on a retry, 409 with the
shortages; commit, release and return follow the hold rules; a bad body is 400 and holds nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import assert_envelope
from tests.unit.inventory.books import FULL_STOCK, http_stock


def hold_body(quantities: dict[str, int], order_id: str = "order_1") -> dict[str, Any]:
    return {"order_id": order_id, "lines": [{"book_id": b, "quantity": q} for b, q in quantities.items()]}


async def test_an_http_hold_is_201_first_and_200_on_an_identical_retry(client: httpx.AsyncClient) -> None:
    first = await client.post("/internal/holds", json=hold_body({"123": 2}))
    again = await client.post("/internal/holds", json=hold_body({"123": 2}))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["status"] == "held"
    assert first.json()["lines"] == [{"book_id": "123", "quantity": 2, "unit_price": 15.99}]
    assert again.json() == first.json()
    assert (await http_stock(client))["123"] == 48


async def test_an_http_hold_of_too_many_is_409_with_the_shortages(client: httpx.AsyncClient) -> None:
    response = await client.post("/internal/holds", json=hold_body({"123": 1, "456": 31, "999": 2}))

    body = assert_envelope(response, 409)
    assert body["details"] == [
        {"book_id": "456", "requested": 31, "available": 30},
        {"book_id": "999", "requested": 2, "available": 0},
    ]
    assert await http_stock(client) == FULL_STOCK


async def test_a_hold_costing_more_than_its_max_total_is_400_and_holds_nothing(
    client: httpx.AsyncClient,
) -> None:
    """Sales sends the most an order may cost (issue 14, scenario 3): 2 x 15.99 is over 31.97."""
    refused = await client.post("/internal/holds", json={**hold_body({"123": 2}), "max_total": "31.97"})
    taken = await client.post("/internal/holds", json={**hold_body({"123": 2}, "o2"), "max_total": "31.98"})

    body = assert_envelope(refused, 400)
    assert body["details"][0]["field"] == "total"
    assert taken.status_code == 201
    assert await http_stock(client) == {**FULL_STOCK, "123": 48}
    assert_envelope(await client.get("/internal/holds/order_1"), 404)


async def test_a_different_http_hold_for_the_same_order_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}))

    assert_envelope(await client.post("/internal/holds", json=hold_body({"456": 2})), 409)
    assert await http_stock(client) == {**FULL_STOCK, "123": 48}


async def test_http_commit_and_release_follow_the_hold_rules(client: httpx.AsyncClient) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}, "sold"))
    await client.post("/internal/holds", json=hold_body({"456": 3}, "dropped"))

    assert (await client.post("/internal/holds/sold/commit")).json()["status"] == "committed"
    assert (await client.post("/internal/holds/sold/commit")).status_code == 200
    assert (await client.post("/internal/holds/dropped/release")).json()["status"] == "released"
    assert_envelope(await client.post("/internal/holds/sold/release"), 409)
    assert_envelope(await client.post("/internal/holds/dropped/commit"), 409)
    assert_envelope(await client.post("/internal/holds/nobody/commit"), 404)
    assert_envelope(await client.post("/internal/holds/nobody/release"), 404)
    assert (await client.get("/internal/holds/sold")).json()["status"] == "committed"
    assert await http_stock(client) == {**FULL_STOCK, "123": 48}


async def test_http_return_of_a_sold_order_restocks_once_and_refuses_a_mere_hold(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}, "sold"))
    await client.post("/internal/holds/sold/commit")
    await client.post("/internal/holds", json=hold_body({"456": 3}, "held"))

    returned = await client.post("/internal/holds/sold/return")
    again = await client.post("/internal/holds/sold/return")

    assert (returned.status_code, again.status_code) == (200, 200)
    assert returned.json()["status"] == "returned"
    assert again.json() == returned.json()
    assert_envelope(await client.post("/internal/holds/held/return"), 409)
    assert_envelope(await client.post("/internal/holds/nobody/return"), 404)
    assert await http_stock(client) == {**FULL_STOCK, "456": 27}


def with_quantity(quantity: Any) -> dict[str, Any]:
    return {"order_id": "order_1", "lines": [{"book_id": "123", "quantity": quantity}]}


BAD_HOLD_BODIES: dict[str, dict[str, Any]] = {
    "quantity 0": {"json": with_quantity(0)},
    "quantity -1": {"json": with_quantity(-1)},
    "quantity 1.5": {"json": with_quantity(1.5)},
    "quantity as a string": {"json": with_quantity("2")},
    "quantity true": {"json": with_quantity(True)},
    "missing lines": {"json": {"order_id": "order_1"}},
    "empty lines": {"json": {"order_id": "order_1", "lines": []}},
    "missing order id": {"json": {"lines": [{"book_id": "123", "quantity": 1}]}},
    "the same book twice": {
        "json": {"order_id": "order_1", "lines": [{"book_id": "123", "quantity": 1}] * 2}
    },
    "a list instead of an object": {"json": [with_quantity(1)]},
    "broken json": {
        "content": b'{"order_id": "order_1", "lines": [',
        "headers": {"content-type": "application/json"},
    },
}


@pytest.mark.parametrize("request_kwargs", BAD_HOLD_BODIES.values(), ids=BAD_HOLD_BODIES.keys())
async def test_a_bad_hold_body_is_400_and_holds_nothing(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any]
) -> None:
    response = await client.post("/internal/holds", **request_kwargs)

    assert_envelope(response, 400)
    assert await http_stock(client) == FULL_STOCK
    assert_envelope(await client.get("/internal/holds/order_1"), 404)
