"""The delivery service through HTTP, in-process: a memory store and a fake sales service."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from delivery_service.app import create_app
from delivery_service.domain import DeliveryDraft, DeliveryExists
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore, TablesDeliveryStore
from shared.store import Tables

ADDRESS = "123 Main St, City, State 12345"
ORDERED_AT = "2026-11-27T05:30:00Z"  # a Friday
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ORDERS_PATH = "/internal/orders/"

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def an_order(order_id: str, status: str = "Confirmed", created_at: str = ORDERED_AT) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "cust_001",
        "books": [{"book_id": "123", "quantity": 2, "unit_price": 15.99}],
        "total_amount": 31.98,
        "status": status,
        "payment_status": "Paid" if status == "Confirmed" else "Declined",
        "created_at": created_at,
    }


class FakeSales:
    """Sales' internal order API on an httpx.MockTransport; remembers the raw paths it was asked."""

    def __init__(self, *orders: dict[str, Any]) -> None:
        self.orders = {order["order_id"]: order for order in orders}
        self.asked: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a real call suspends here: lets concurrent requests interleave
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        raw_path = request.url.raw_path.decode()
        self.asked.append(raw_path)
        order = self.orders.get(unquote(raw_path.removeprefix(ORDERS_PATH)))
        if not raw_path.startswith(ORDERS_PATH) or order is None:
            return httpx.Response(404, json={"error": "Order not found"})
        return httpx.Response(200, json=order)


def answering(status: int, content: bytes) -> Handler:
    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return handle


def failing(error: type[httpx.TransportError]) -> Handler:
    async def handle(request: httpx.Request) -> httpx.Response:
        raise error("no answer", request=request)

    return handle


@asynccontextmanager
async def running(
    sales: Handler, *, business_days: int = 5, store: DeliveryStore | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = DeliverySettings(store="memory", business_days=business_days)
    sales_client = httpx.AsyncClient(transport=httpx.MockTransport(sales), base_url="http://sales")
    app = create_app(settings, store, sales=sales_client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://delivery") as client,
    ):
        yield client


@pytest.fixture
def sales() -> FakeSales:
    return FakeSales(an_order("order_1"), an_order("order_2"), an_order("order_3", status="Failed"))


@pytest.fixture
async def api(sales: FakeSales) -> AsyncIterator[httpx.AsyncClient]:
    async with running(sales, store=TablesDeliveryStore(Tables())) as client:
        yield client


async def post(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.post("/api/deliveries", json={"order_id": "order_1", "address": ADDRESS, **body})


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


async def test_the_order_id_travels_to_sales_as_one_path_segment(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    response = await post(api, order_id="a/../b?c=1#d")
    assert response.json()["error"] == "Order a/../b?c=1#d not found"
    assert sales.asked == ["/internal/orders/a%2F..%2Fb%3Fc%3D1%23d"]


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


def _body(**fields: Any) -> str:
    return json.dumps({"order_id": "order_1", "address": ADDRESS, **fields})


BAD_BODIES = {
    "empty-object": "{}",
    "no-order-id": json.dumps({"address": ADDRESS}),
    "no-address": json.dumps({"order_id": "order_1"}),
    "order-id-number": _body(order_id=1),
    "order-id-empty": _body(order_id=""),
    "order-id-65-chars": _body(order_id="o" * 65),
    "address-number": _body(address=123),
    "address-null": _body(address=None),
    "address-list": _body(address=[ADDRESS]),
    "address-empty": _body(address=""),
    "address-blank": _body(address=" \t\n "),
    "address-501-chars": _body(address="x" * 501),
    "impossible-date": _body(estimated_date="2026-02-30"),
    "date-word": _body(estimated_date="tomorrow"),
    "date-number": _body(estimated_date=20261203),
    "date-seconds-text": _body(estimated_date="86400"),
    "date-with-time": _body(estimated_date="2026-12-03T10:00:00"),
    "date-us-style": _body(estimated_date="12/03/2026"),
    "bad-original-date": _body(estimated_delivery_date="2026-13-01"),
    "broken-json": '{"order_id": "order_1", "address": ',
    "array": "[]",
    "null": "null",
    "no-body": "",
}


@pytest.mark.parametrize("content", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_input_is_400_in_the_envelope_and_creates_nothing(
    api: httpx.AsyncClient, sales: FakeSales, content: str
) -> None:
    response = await api.post(
        "/api/deliveries", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request"
    assert body["details"]
    assert "detail" not in body
    assert sales.asked == []
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_readiness_follows_sales() -> None:
    async with running(FakeSales()) as api:
        ready = await api.get("/readyz")
    async with running(failing(httpx.ConnectError)) as api:
        not_ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert not_ready.status_code == 503
    assert [d["component"] for d in not_ready.json()["details"]] == ["sales"]


def a_draft(order_id: str = "order_1") -> DeliveryDraft:
    return DeliveryDraft(order_id, "cust_001", ADDRESS, date(2026, 12, 3), datetime.now(UTC))


async def test_the_store_gives_an_order_one_delivery_under_concurrent_adds() -> None:
    store = TablesDeliveryStore(Tables())
    results = await asyncio.gather(*(store.add_delivery(a_draft()) for _ in range(3)), return_exceptions=True)

    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert [d.delivery_id for d in made] == ["del_1"]
    assert len(refused) == 2
    assert all(isinstance(r, DeliveryExists) for r in refused)
    assert await store.get_delivery("del_2") is None
    assert await store.get_delivery("del_1") == made[0]
