"""GET /api/deliveries: deliveries keyed by id in id order, filtered by order and status, paged
with cursors, and for a customer only its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ALICE, BOB
from tests.unit.delivery.fake_sales import FakeSales, create, patch, read


def next_link(response: httpx.Response) -> str:
    link = response.headers["link"]
    assert link.endswith('>; rel="next"'), link
    return link[1 : link.index(">")]


async def test_deliveries_list_in_id_order_keyed_by_id_with_paging(api: httpx.AsyncClient) -> None:
    for order_id in ("order_1", "order_2", "order_4", "order_5", "order_6"):
        await create(api, order_id)

    first = await api.get("/api/deliveries", params={"limit": 2})

    assert list(first.json()) == ["del_1", "del_2"]
    assert first.json()["del_2"] == await read(api, "del_2")
    assert first.headers["x-total-count"] == "5"
    assert next_link(first).startswith("/api/deliveries?limit=2&cursor=")
    seen, page = list(first.json()), first
    while "link" in page.headers:
        page = await api.get(next_link(page))
        assert page.headers["x-total-count"] == "5"
        seen += list(page.json())
    assert seen == ["del_1", "del_2", "del_3", "del_4", "del_5"]


async def test_ids_sort_by_number_not_as_text(api: httpx.AsyncClient, sales: FakeSales) -> None:
    for n in range(7, 19):
        sales.orders[f"order_{n}"] = {**sales.orders["order_1"], "order_id": f"order_{n}"}
    for n in range(1, 13):
        await create(api, f"order_{n + 6}")

    listed = await api.get("/api/deliveries")

    assert list(listed.json()) == [f"del_{n}" for n in range(1, 13)]


async def test_without_more_there_is_no_link(api: httpx.AsyncClient) -> None:
    await create(api)
    listed = await api.get("/api/deliveries", params={"limit": 1})
    assert list(listed.json()) == ["del_1"]
    assert "link" not in listed.headers
    empty = await api.get("/api/deliveries", params={"order_id": "order_9"})
    assert (empty.json(), empty.headers["x-total-count"]) == ({}, "0")


async def test_a_cursor_stays_valid_while_deliveries_are_added(api: httpx.AsyncClient) -> None:
    await create(api, "order_1")
    await create(api, "order_2")
    first = await api.get("/api/deliveries", params={"limit": 1})
    await create(api, "order_4")

    rest = await api.get(next_link(first).replace("limit=1", "limit=10"))

    assert list(rest.json()) == ["del_2", "del_3"]
    assert rest.headers["x-total-count"] == "3"


async def test_deliveries_filter_by_order_and_by_status(api: httpx.AsyncClient) -> None:
    for order_id in ("order_1", "order_2", "order_4", "order_5"):
        await create(api, order_id)
    assert (await patch(api, "Cancelled", "del_1")).status_code == 200
    assert (await patch(api, "Shipped", "del_3")).status_code == 200
    assert (await patch(api, "In Transit", "del_3")).status_code == 200

    by_order = await api.get("/api/deliveries", params={"order_id": "order_2"})
    pending = await api.get("/api/deliveries", params={"status": "Pending"})
    in_transit = await api.get("/api/deliveries", params={"status": "In Transit"})
    both = await api.get("/api/deliveries", params={"order_id": "order_2", "status": "Cancelled"})

    assert list(by_order.json()) == ["del_2"]
    assert by_order.headers["x-total-count"] == "1"
    assert list(pending.json()) == ["del_2", "del_4"]
    assert pending.headers["x-total-count"] == "2"
    assert list(in_transit.json()) == ["del_3"]
    assert both.json() == {}


async def test_filtered_pages_carry_their_filters_in_the_link(api: httpx.AsyncClient) -> None:
    for order_id in ("order_1", "order_2", "order_4", "order_5"):
        await create(api, order_id)
    await patch(api, "Cancelled", "del_2")

    first = await api.get("/api/deliveries", params={"status": "Pending", "limit": 2})
    second = await api.get(next_link(first))

    assert list(first.json()) + list(second.json()) == ["del_1", "del_3", "del_4"]
    assert "status=Pending" in first.headers["link"]


async def test_a_customer_lists_only_its_own_deliveries(api: httpx.AsyncClient) -> None:
    for order_id in ("order_4", "order_5", "order_1", "order_6"):
        await create(api, order_id)

    alices = await api.get("/api/deliveries", headers=ALICE)
    bobs = await api.get("/api/deliveries", headers=BOB)
    alice_asks_for_bobs = await api.get("/api/deliveries", params={"order_id": "order_5"}, headers=ALICE)
    alice_paged = await api.get("/api/deliveries", params={"limit": 1}, headers=ALICE)

    assert list(alices.json()) == ["del_1", "del_4"]
    assert alices.headers["x-total-count"] == "2"
    assert list(bobs.json()) == ["del_2"]
    assert (alice_asks_for_bobs.json(), alice_asks_for_bobs.headers["x-total-count"]) == ({}, "0")
    assert list((await api.get(next_link(alice_paged), headers=ALICE)).json()) == ["del_4"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"cursor": "bogus"},
        {"cursor": "djE6eA"},  # "v1:x"
        {"status": "Lost"},
        {"status": "pending"},
        {"order_id": "o" * 65},
    ],
    ids=lambda params: "-".join(f"{k}={str(v)[:8]}" for k, v in params.items()),
)
async def test_bad_listing_parameters_are_400(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await api.get("/api/deliveries", params=params)
    assert response.status_code == 400
    assert response.json()["error"]
    assert "detail" not in response.json()
