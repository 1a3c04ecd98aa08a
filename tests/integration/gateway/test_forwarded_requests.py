"""What the gateway sends a service: method, path, query, body and headers as the client sent them,
less the token, hop-by-hop headers and forged identities, plus its own principal, request id and
X-Forwarded-For."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import TOKEN
from tests.integration.gateway.fake_services import (
    CLIENT_ADDRESS,
    Answer,
    FakeService,
    service_for,
)

# --- the request goes out unchanged -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/api/books", "q=caf%C3%A9&x=1&x=2"),
        ("GET", "/api/books", "q=a+b&author=&in_stock=true&limit=1000&cursor=Zm9v%3D%3D"),
        ("GET", "/api/books/caf%C3%A9%20noir", ""),
        ("GET", "/api/books/a%2Fb", ""),
        ("POST", "/api/books", ""),
        ("PATCH", "/api/books/123", ""),
        ("DELETE", "/api/books/123", ""),
        ("POST", "/api/books/123/stock", ""),
        ("PUT", "/api/books/123", ""),
        ("OPTIONS", "/api/books", ""),
        ("GET", "/api/orders", "customer_id=cust_001&status=Confirmed"),
        ("POST", "/api/orders/order_1/cancel", ""),
        ("GET", "/api/deliveries", "order_id=order_1"),
        ("PATCH", "/api/deliveries/del_1", ""),
    ],
)
async def test_method_path_and_query_arrive_unchanged(
    gateway: httpx.AsyncClient, services: dict[str, FakeService], method: str, path: str, query: str
) -> None:
    target = f"{path}?{query}" if query else path

    response = await gateway.request(method, target)

    assert response.status_code == 200, response.text
    service = services[service_for(path)]
    [seen] = service.api_requests
    assert (seen.method, seen.path, seen.query) == (method, path, query)


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("/api/books", "inventory"),
        ("/api/books/123", "inventory"),
        ("/api/orders", "sales"),
        ("/api/orders/order_1", "sales"),
        ("/api/deliveries", "delivery"),
        ("/api/deliveries/del_1", "delivery"),
    ],
)
async def test_each_prefix_goes_to_its_own_service_only(
    gateway: httpx.AsyncClient, services: dict[str, FakeService], path: str, owner: str
) -> None:
    for name, service in services.items():
        service.reply = lambda _, name=name: Answer(body=f'{{"served_by": "{name}"}}'.encode())

    response = await gateway.get(path)

    assert response.json() == {"served_by": owner}
    assert {name: len(s.api_requests) for name, s in services.items()} == {
        name: int(name == owner) for name in services
    }


async def test_a_json_body_arrives_byte_for_byte(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    body = (
        '{"customer_id": "cust_é",  "books":[{"book_id":"123","quantity":2}],\n'
        ' "payment_method":"credit_card", "z": 1.50, "a": null}'
    ).encode()

    await gateway.post("/api/orders", content=body, headers={"Content-Type": "application/json"})

    seen = services["sales"].last
    assert seen.body == body
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["content-length"] == str(len(body))


async def test_a_body_streamed_in_chunks_arrives_whole(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    pieces = [b'{"title": "', b"x" * 50_000, b'", "stock": 1}']

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    await gateway.post("/api/books", content=chunks(), headers={"Content-Type": "application/json"})

    assert inventory.last.body == b"".join(pieces)
    assert "transfer-encoding" not in inventory.last.headers
    assert inventory.last.headers["content-length"] == str(len(b"".join(pieces)))


async def test_ordinary_headers_arrive_unchanged(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    headers = [
        ("Idempotency-Key", "key 1/2"),
        ("Accept", "application/json"),
        ("User-Agent", "curl/8.5.0"),
        ("X-Tag", "a"),
        ("X-Tag", "b"),
    ]

    await gateway.post("/api/orders", json={}, headers=headers)

    seen = services["sales"].last.headers
    assert seen["idempotency-key"] == "key 1/2"
    assert seen["accept"] == "application/json"
    assert seen["user-agent"] == "curl/8.5.0"
    assert seen.getall("x-tag") == ["a", "b"]


async def test_a_utf_8_request_header_arrives_byte_for_byte(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    value = b"key caf\xc3\xa9"
    await gateway.post("/api/orders", json={}, headers=[(b"Idempotency-Key", value)])

    assert services["sales"].last.raw_values("idempotency-key") == [value]


async def test_a_header_that_is_not_utf_8_is_refused_rather_than_altered(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    response = await gateway.post("/api/orders", json={}, headers=[(b"Idempotency-Key", b"key caf\xe9")])

    assert response.status_code == 400
    assert response.json()["error"] == "Request headers must be UTF-8 without control characters"
    assert services["sales"].api_requests == []


# --- what the gateway removes and adds ----------------------------------------------------------


async def test_the_bearer_token_is_not_forwarded(gateway: httpx.AsyncClient, inventory: FakeService) -> None:
    await gateway.get("/api/books")

    assert "authorization" not in inventory.last.headers
    assert all(TOKEN not in value for value in inventory.last.headers.values())


async def test_client_principal_and_internal_headers_are_replaced_by_the_gateways(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    forged = [
        ("X-Principal-Subject", "mallory"),
        ("x-principal-roles", "admin,staff"),
        ("X-PRINCIPAL-ROLES", "staff"),
        ("X-Principal-Anything", "1"),
        ("X-Internal-Anything", "1"),
        ("x-internal-token", "forged"),
    ]

    await gateway.get("/api/books", headers=forged)

    seen = inventory.last.headers
    assert seen.getall("x-principal-subject") == ["dev"]
    assert seen.getall("x-principal-roles") == ["admin"]
    assert [k for k in seen if k.lower().startswith("x-internal-")] == []
    assert "x-principal-anything" not in seen


async def test_a_sane_client_request_id_is_forwarded(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    response = await gateway.get("/api/books", headers={"X-Request-ID": "trace-42.a:b"})

    assert inventory.last.headers.getall("x-request-id") == ["trace-42.a:b"]
    assert response.headers.get_list("x-request-id") == ["trace-42.a:b"]


@pytest.mark.parametrize("sent", [None, "not a sane id!", "x" * 200])
async def test_the_gateways_own_request_id_is_forwarded_and_returned(
    gateway: httpx.AsyncClient, inventory: FakeService, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent else {}

    response = await gateway.get("/api/books", headers=headers)

    [forwarded] = inventory.last.headers.getall("x-request-id")
    assert forwarded != sent
    assert response.headers.get_list("x-request-id") == [forwarded]


async def test_x_forwarded_for_names_the_client(gateway: httpx.AsyncClient, inventory: FakeService) -> None:
    await gateway.get("/api/books")

    assert inventory.last.headers.getall("x-forwarded-for") == [CLIENT_ADDRESS[0]]


async def test_x_forwarded_for_appends_the_client_to_the_chain(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    await gateway.get("/api/books", headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.2"})

    assert inventory.last.headers.getall("x-forwarded-for") == [f"203.0.113.7, 10.0.0.2, {CLIENT_ADDRESS[0]}"]


async def test_hop_by_hop_request_headers_are_not_forwarded(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    body = b'{"delta": 10}'
    hop_by_hop = {
        "Connection": "keep-alive, Upgrade",
        "Keep-Alive": "timeout=99, max=7",
        "Transfer-Encoding": "chunked",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Upgrade": "h2c",
        "Proxy-Connection": "keep-alive",
    }

    await gateway.post("/api/books/123/stock", content=body, headers=hop_by_hop)

    seen = inventory.last
    assert seen.body == body
    for name in ("keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"):
        assert name not in seen.headers, name
    # aiohttp may say keep-alive on its own; the client's connection options must not come through.
    assert "upgrade" not in seen.headers.get("connection", "").lower()


async def test_headers_the_client_names_in_connection_are_not_forwarded(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    # RFC 9110 §7.6.1: a proxy removes every field named in Connection, not only the fixed list.
    await gateway.get("/api/books", headers={"Connection": "close, X-Hop-Secret", "X-Hop-Secret": "1"})

    assert "x-hop-secret" not in inventory.last.headers
