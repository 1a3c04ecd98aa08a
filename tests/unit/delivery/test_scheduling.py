"""Scheduling and reading deliveries through HTTP, in-process on a memory store in front of a fake
sales: a new delivery Pending with its estimated date, one per order, ids that increase; sales
down, slow or wrong is 503/504, and readiness follows it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from delivery_service.clients import SalesClient
from delivery_service.domain import OrderNotFound
from shared.http import Upstream
from tests.unit.delivery.fake_sales import (
    ADDRESS,
    TIMESTAMP,
    FakeSales,
    an_order,
    answering,
    failing,
    post,
    running,
)


async def test_a_delivery_is_created_pending_and_reads_back_the_same(api: httpx.AsyncClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    created = await post(api, estimated_date="2026-12-03")
    after = datetime.now(UTC)

    assert created.status_code == 201
    body = created.json()
    at = body["history"][0].pop("at")
    assert body == {
        "delivery_id": "del_1",
        "order_id": "order_1",
        "address": ADDRESS,
        "status": "Pending",
        "estimated_date": "2026-12-03",
        "history": [{"status": "Pending"}],
    }
    assert TIMESTAMP.fullmatch(at)
    assert before <= datetime.fromisoformat(at) <= after
    read = await api.get("/api/deliveries/del_1")
    assert read.status_code == 200
    assert read.json() == created.json()


async def test_the_original_api_date_name_is_accepted(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_delivery_date="2026-12-03")
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2026-12-03"


async def test_when_both_date_names_are_sent_estimated_date_wins(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_date="2026-12-03", estimated_delivery_date="2026-12-24")
    assert response.json()["estimated_date"] == "2026-12-03"


async def test_a_date_in_the_past_is_accepted(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_date="2020-02-29")
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2020-02-29"


@pytest.mark.parametrize("body", [{}, {"estimated_date": None}], ids=["absent", "null"])
async def test_without_a_date_it_is_the_order_date_plus_five_business_days(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await post(api, **body)
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2026-12-04"  # Friday + 5 business days


async def test_the_number_of_business_days_is_a_setting(sales: FakeSales) -> None:
    async with running(sales, business_days=1) as api:
        response = await post(api)
    assert response.json()["estimated_date"] == "2026-11-30"  # Friday + 1 business day = Monday


async def test_the_address_is_stored_without_surrounding_blanks_up_to_500_characters(
    api: httpx.AsyncClient,
) -> None:
    longest = "x" * 500
    assert (await post(api, address=f"  {longest}\n")).json()["address"] == longest


async def test_an_unknown_order_is_a_bad_request(api: httpx.AsyncClient) -> None:
    response = await post(api, order_id="order_9")
    assert response.status_code == 400
    assert response.json()["error"] == "Order order_9 not found"
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_an_order_that_is_not_confirmed_cannot_be_delivered(api: httpx.AsyncClient) -> None:
    response = await post(api, order_id="order_3")
    assert response.status_code == 409
    assert response.json()["error"] == "Order order_3 is Failed, not Confirmed"
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_second_delivery_for_an_order_is_refused(api: httpx.AsyncClient) -> None:
    first = await post(api)
    second = await post(api, address="9 Other Rd", estimated_date="2027-01-01")

    assert second.status_code == 409
    assert second.json()["error"] == "Order order_1 already has a delivery"
    assert (await api.get("/api/deliveries/del_1")).json() == first.json()
    assert (await api.get("/api/deliveries/del_2")).status_code == 404


async def test_concurrent_requests_for_one_order_make_one_delivery(api: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(post(api, address=f"{n} Main St") for n in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert (await api.get("/api/deliveries/del_2")).status_code == 404


async def test_delivery_ids_increase_and_a_refusal_uses_none(api: httpx.AsyncClient) -> None:
    assert (await post(api, order_id="order_1")).json()["delivery_id"] == "del_1"
    assert (await post(api, order_id="order_1")).status_code == 409
    assert (await post(api, order_id="order_3")).status_code == 409
    assert (await post(api, order_id="order_2")).json()["delivery_id"] == "del_2"
    assert (await api.get("/api/deliveries/del_2")).json()["order_id"] == "order_2"


async def test_the_order_id_travels_to_sales_as_one_path_segment(sales: FakeSales) -> None:
    # The API refuses such an id (400, below); the client still never lets one name another path.
    upstream = Upstream("sales", httpx.AsyncClient(transport=httpx.MockTransport(sales), base_url="http://s"))
    with pytest.raises(OrderNotFound, match=r"a/\.\./b\?c=1#d"):
        await SalesClient(upstream).get_order("a/../b?c=1#d")
    await upstream.aclose()
    assert sales.asked == ["/internal/orders/a%2F..%2Fb%3Fc%3D1%23d"]


@pytest.mark.parametrize("order_id", ["a/../b", "order_1/status", "order 1", "order_1?x=1", "%2F"])
async def test_an_order_id_that_is_not_plain_is_refused_before_sales_is_asked(
    api: httpx.AsyncClient, sales: FakeSales, order_id: str
) -> None:
    response = await post(api, order_id=order_id)

    assert response.status_code == 400, response.text
    assert sales.asked == []


@pytest.mark.parametrize("status", [404, 405])
async def test_sales_without_the_orders_path_is_an_unknown_order_never_503(status: int) -> None:
    async with running(answering(status, b'{"error": "Not found"}')) as api:
        response = await post(api)
    assert response.status_code == 400
    assert response.json()["error"] == "Order order_1 not found"


async def test_an_unknown_delivery_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/deliveries/del_404")
    assert response.status_code == 404
    assert response.json()["error"] == "Delivery not found"


async def test_sales_down_is_503_with_retry_after() -> None:
    async with running(failing(httpx.ConnectError)) as api:
        response = await post(api)
        missing = await api.get("/api/deliveries/del_1")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "The sales service is unavailable"
    assert missing.status_code == 404


async def test_sales_too_slow_is_504() -> None:
    async with running(failing(httpx.ReadTimeout)) as api:
        response = await post(api)
    assert response.status_code == 504
    assert response.json()["error"] == "The sales service did not answer in time"


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (500, b'{"error": "Internal server error"}'),
        (401, b'{"error": "Unauthorized"}'),
        (200, b"<html>not json</html>"),
        (200, json.dumps({**an_order("order_1"), "created_at": None}).encode()),
        (200, json.dumps(an_order("order_1", created_at="2026-11-27T05:30:00")).encode()),  # no timezone
    ],
    ids=["500", "401", "not-json", "no-created-at", "naive-created-at"],
)
async def test_a_wrong_answer_from_sales_is_503_never_500(status: int, content: bytes) -> None:
    async with running(answering(status, content)) as api:
        response = await post(api)
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "Sales service error"


async def test_readiness_follows_sales() -> None:
    async with running(FakeSales()) as api:
        ready = await api.get("/readyz")
    async with running(failing(httpx.ConnectError)) as api:
        not_ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert not_ready.status_code == 503
    assert [d["component"] for d in not_ready.json()["details"]] == ["sales"]
