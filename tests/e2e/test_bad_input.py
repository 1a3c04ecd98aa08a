"""Malformed and hostile requests through the real gateway: each gets a 4xx in the contract's
envelope, and none changes anything (the catalog, the orders and the deliveries stay as they were)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devtools.system import AUTH, LocalSystem
from tests.helpers import order_body, user_client

GOOD_DELIVERY = {"order_id": "order_1", "address": "1 Main St"}


def _order(**changes: Any) -> bytes:
    body = order_body("123", 1)
    body.update(changes)
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


def _line(**changes: Any) -> bytes:
    line = {"book_id": "123", "quantity": 1} | changes
    return _order(books=[{k: v for k, v in line.items() if v is not ...}])


def _delivery(**changes: Any) -> bytes:
    body = GOOD_DELIVERY | changes
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


# (case id, method, path, raw body, extra headers, expected status)
CASES: list[tuple[str, str, str, bytes | None, dict[str, str], int]] = [
    ("no token", "GET", "/api/books/123", None, {"Authorization": ""}, 401),
    ("wrong token", "POST", "/api/orders", _order(), {"Authorization": "Bearer nope"}, 401),
    ("basic auth", "GET", "/api/orders/order_1", None, {"Authorization": "Basic bXk6cGFzcw=="}, 401),
    ("unknown book page", "GET", "/api/books/" + "9" * 2000, None, {}, 404),
    ("unknown route", "GET", "/api/authors", None, {}, 404),
    ("wrong method", "DELETE", "/api/orders/order_1", None, {}, 405),
    ("put on a collection", "PUT", "/api/books", b"{}", {}, 405),
    ("broken json", "POST", "/api/orders", b'{"customer_id": "c", "books": [', {}, 400),
    ("not utf-8", "POST", "/api/orders", b"\xff\xfe\x00", {}, 400),
    ("deeply nested arrays", "POST", "/api/orders", b"[" * 100_000, {}, 400),
    ("deeply nested objects", "POST", "/api/orders", b'{"a":' * 50_000, {}, 400),
    ("body is a list", "POST", "/api/orders", b"[]", {}, 400),
    ("body is null", "POST", "/api/orders", b"null", {}, 400),
    ("empty body", "POST", "/api/orders", b"", {}, 400),
    ("empty object", "POST", "/api/orders", b"{}", {}, 400),
    ("no customer", "POST", "/api/orders", _order(customer_id=...), {}, 400),
    ("empty customer", "POST", "/api/orders", _order(customer_id=""), {}, 400),
    ("blank customer", "POST", "/api/orders", _order(customer_id="   "), {}, 400),
    ("numeric customer", "POST", "/api/orders", _order(customer_id=7), {}, 400),
    ("huge customer", "POST", "/api/orders", _order(customer_id="c" * 10_000), {}, 400),
    ("no books", "POST", "/api/orders", _order(books=...), {}, 400),
    ("empty books", "POST", "/api/orders", _order(books=[]), {}, 400),
    ("books not a list", "POST", "/api/orders", _order(books="123"), {}, 400),
    ("101 lines", "POST", "/api/orders", _order(books=[{"book_id": "123", "quantity": 1}] * 101), {}, 400),
    ("no book id", "POST", "/api/orders", _line(book_id=...), {}, 400),
    ("numeric book id", "POST", "/api/orders", _line(book_id=123), {}, 400),
    ("huge book id", "POST", "/api/orders", _line(book_id="1" * 1000), {}, 400),
    ("no quantity", "POST", "/api/orders", _line(quantity=...), {}, 400),
    ("zero quantity", "POST", "/api/orders", _line(quantity=0), {}, 400),
    ("negative quantity", "POST", "/api/orders", _line(quantity=-1), {}, 400),
    ("fractional quantity", "POST", "/api/orders", _line(quantity=1.5), {}, 400),
    ("string quantity", "POST", "/api/orders", _line(quantity="2"), {}, 400),
    ("boolean quantity", "POST", "/api/orders", _line(quantity=True), {}, 400),
    ("too many", "POST", "/api/orders", _line(quantity=1001), {}, 400),
    (
        "huge quantity",
        "POST",
        "/api/orders",
        _order(books=[{"book_id": "123", "quantity": 7}]).replace(b"7", b"1" + b"0" * 30),
        {},
        400,
    ),
    ("unknown book", "POST", "/api/orders", _line(book_id="999"), {}, 400),
    ("more than in stock", "POST", "/api/orders", _line(quantity=51), {}, 400),
    ("no payment method", "POST", "/api/orders", _order(payment_method=...), {}, 400),
    ("unknown payment method", "POST", "/api/orders", _order(payment_method="bitcoin"), {}, 400),
    ("numeric payment token", "POST", "/api/orders", _order(payment_token=5), {}, 400),
    ("huge payment token", "POST", "/api/orders", _order(payment_token="t" * 256), {}, 400),
    ("body over 1 MB", "POST", "/api/orders", _order(customer_id="c" * 1_100_000), {}, 413),
    ("delivery without order", "POST", "/api/deliveries", _delivery(order_id=...), {}, 400),
    ("delivery for unknown order", "POST", "/api/deliveries", _delivery(order_id="order_999"), {}, 400),
    ("delivery without address", "POST", "/api/deliveries", _delivery(address=...), {}, 400),
    ("empty address", "POST", "/api/deliveries", _delivery(address=""), {}, 400),
    ("address too long", "POST", "/api/deliveries", _delivery(address="a" * 501), {}, 400),
    ("numeric address", "POST", "/api/deliveries", _delivery(address=5), {}, 400),
    ("impossible date", "POST", "/api/deliveries", _delivery(estimated_date="2026-02-30"), {}, 400),
    ("words for a date", "POST", "/api/deliveries", _delivery(estimated_date="tomorrow"), {}, 400),
    ("us date", "POST", "/api/deliveries", _delivery(estimated_delivery_date="12/03/2026"), {}, 400),
    ("numeric date", "POST", "/api/deliveries", _delivery(estimated_date=20261203), {}, 400),
    ("order id with a slash", "POST", "/api/deliveries", _delivery(order_id="order_1/status"), {}, 400),
    ("order id with a space", "POST", "/api/deliveries", _delivery(order_id="order 1"), {}, 400),
    ("book id with a slash", "POST", "/api/orders", _line(book_id="123/stock"), {}, 400),
    ("trailing slash on a collection", "GET", "/api/orders/", None, {}, 404),
    ("trailing slash on a post", "POST", "/api/orders/", _order(), {}, 404),
    ("trailing slash on an item", "GET", "/api/books/123/", None, {}, 404),
    ("trailing slash on a sub-resource", "POST", "/api/books/123/stock/", b'{"delta": 1}', {}, 404),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    system = LocalSystem(Path(tmp_path_factory.mktemp("bad-input")))
    try:
        system.start()
        yield system
    finally:
        system.close()


@pytest.fixture
async def http(shop: LocalSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with user_client(shop.url) as client:
        if (await client.get("/api/orders/order_1")).status_code == 404:
            assert (await client.post("/api/orders", json=order_body("123", 1))).status_code == 201
        yield client


async def snapshot(client: httpx.AsyncClient) -> list[Any]:
    """Everything a bad request could have changed."""
    state: list[Any] = [(await client.get("/api/books")).json()]
    for path in (
        "/api/orders/order_1",
        "/api/orders/order_2",
        "/api/orders/order_3",
        "/api/deliveries/del_1",
        "/api/deliveries/del_2",
    ):
        response = await client.get(path)
        body = response.json()
        body.pop("request_id", None)  # differs per request by design
        state.append((path, response.status_code, body))
    return state


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_bad_input_gets_a_4xx_envelope_and_changes_nothing(
    http: httpx.AsyncClient, method: str, path: str, body: bytes | None, headers: dict[str, str], status: int
) -> None:
    before = await snapshot(http)
    request_headers = {"Content-Type": "application/json", **headers}
    if headers.get("Authorization") == "":
        request_headers.pop("Authorization")
        http.headers.pop("Authorization", None)
    response = await http.request(method, path, content=body, headers=request_headers)

    assert response.status_code == status, response.text
    envelope = response.json()
    assert isinstance(envelope, dict) and isinstance(envelope["error"], str) and envelope["error"]
    assert "detail" not in envelope
    assert response.headers["x-request-id"]
    assert "location" not in response.headers  # never a redirect, least of all to an internal host
    http.headers.update(AUTH)
    assert await snapshot(http) == before


async def test_a_body_cut_short_by_the_client_is_never_forwarded(
    http: httpx.AsyncClient, shop: LocalSystem
) -> None:
    before = await snapshot(http)
    _, writer = await asyncio.open_connection("127.0.0.1", shop.port)
    writer.write(
        b"POST /api/books/123/stock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {AUTH['Authorization']}\r\nX-Request-ID: cut-short-1\r\n".encode()
        + b'Content-Length: 4000\r\n\r\n{"delta": 5}'
    )
    await writer.drain()
    writer.close()  # 12 of the 4000 bytes sent, then gone
    await writer.wait_closed()

    def access_lines() -> list[dict[str, Any]]:
        lines = [orjson.loads(ln) for ln in shop.log("gateway").splitlines() if '"cut-short-1"' in ln]
        return [line for line in lines if line["logger"] == "access"]

    for _ in range(200):  # until the gateway has logged the request as done, however it ended
        if access_lines():
            break
        await asyncio.sleep(0.05)
    assert [line["status"] for line in access_lines()] == [400]
    assert await snapshot(http) == before


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/bo\x01oks HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/books HTTP/1.1\r\nHost: x\r\nNo colon on this line\r\n\r\n",
    ],
    ids=["bad byte in the path", "header line without a colon"],
)
async def test_malformed_http_gets_the_envelope_with_a_request_id(
    shop: LocalSystem, request_bytes: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", shop.port)
    writer.write(request_bytes)
    await writer.drain()
    answer = await reader.read()
    writer.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    assert status_line.split(" ")[1] == "400"
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"error": "Malformed HTTP request", "request_id": headers["x-request-id"]}
