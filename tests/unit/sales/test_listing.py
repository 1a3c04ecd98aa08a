"""GET /api/orders: orders in the order placed, paged with cursors that stay valid, filtered by
customer and status, and for a customer only its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ALICE, BOB
from tests.unit.sales.fake_inventory import Shop, for_, place

# --- listing -------------------------------------------------------------------------------------


async def test_orders_list_in_the_order_placed_with_paging(shop: Shop) -> None:
    ids = [(await place(shop, for_(c)))["order_id"] for c in ("alice", "bob", "alice", "carol", "alice")]

    first = await shop.api.get("/api/orders", params={"limit": 2})
    assert list(first.json()) == ids[:2]
    assert first.headers["x-total-count"] == "5"
    link = first.headers["link"]
    assert link.startswith("</api/orders?limit=2&cursor=") and link.endswith('>; rel="next"')

    seen = list(first.json())
    while "link" in (page := await shop.api.get(link[1 : link.index(">")])).headers:
        seen += list(page.json())
        link = page.headers["link"]
    seen += list(page.json())
    assert seen == ids


async def test_a_cursor_stays_valid_while_orders_are_added(shop: Shop) -> None:
    await place(shop, for_("a"))
    await place(shop, for_("b"))
    first = await shop.api.get("/api/orders", params={"limit": 1})
    newer = await place(shop, for_("c"))

    cursor = first.headers["link"].split("cursor=")[1].split(">")[0]
    rest = await shop.api.get("/api/orders", params={"cursor": cursor, "limit": 10})

    assert list(rest.json()) == ["order_2", newer["order_id"]]


async def test_orders_filter_by_customer_and_status(shop: Shop) -> None:
    await place(shop, for_("alice"))
    await place(shop, for_("bob"))
    await place(shop, for_("alice"))
    await shop.api.post("/api/orders/order_3/cancel")
    declined = await shop.api.post("/api/orders", json={**for_("alice"), "payment_token": "tok_declined"})
    assert declined.status_code == 402

    alices = await shop.api.get("/api/orders", params={"customer_id": "alice"})
    assert list(alices.json()) == ["order_1", "order_3", "order_4"]
    cancelled = await shop.api.get("/api/orders", params={"customer_id": "alice", "status": "Cancelled"})
    assert list(cancelled.json()) == ["order_3"]
    assert cancelled.headers["x-total-count"] == "1"
    failed = await shop.api.get("/api/orders", params={"status": "Failed"})
    assert list(failed.json()) == ["order_4"]


async def test_a_customer_lists_only_its_own_orders(shop: Shop) -> None:
    await place(shop, for_("alice"), **ALICE)
    await place(shop, for_("bob"), **BOB)

    own = await shop.api.get("/api/orders", headers=ALICE)
    asked_for_bob = await shop.api.get("/api/orders", params={"customer_id": "bob"}, headers=ALICE)

    assert list(own.json()) == ["order_1"]
    assert asked_for_bob.json() == {}
    assert asked_for_bob.headers["x-total-count"] == "0"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"cursor": "bogus"},
        {"cursor": "djE6eA"},
        {"status": "Lost"},
    ],
)
async def test_bad_listing_parameters_are_400(shop: Shop, params: dict[str, Any]) -> None:
    response = await shop.api.get("/api/orders", params=params)
    assert response.status_code == 400
    assert "error" in response.json()
