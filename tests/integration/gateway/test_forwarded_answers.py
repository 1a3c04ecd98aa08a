"""What the gateway gives back: the service's status, body and headers byte for byte, less its
server and hop-by-hop headers; each of a hundred concurrent requests gets its own answer."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.integration.gateway.fake_services import (
    JSON,
    SERVICE_OF_PREFIX,
    Answer,
    FakeService,
    Seen,
    running_gateway,
    service_for,
    settings_for,
)

# --- the answer comes back unchanged ------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Answer(201, b'{"id": "124", "title": "New", "price": 9.99}'),
        Answer(200, b'{"123": {"id": "123"}, "456": {"id": "456"}}'),
        Answer(409, b'{"error": "Book already exists", "request_id": "upstream-rid"}'),
        Answer(402, b'{"error": "Payment declined", "order_id": "order_7"}'),
        Answer(400, b'{"error": "Invalid request", "details": [{"field": "price", "message": "> 0"}]}'),
        Answer(404, b"not here", {"Content-Type": "text/plain; charset=utf-8"}),
        Answer(429, b'{"error": "Too many requests"}', {**JSON, "Retry-After": "7"}),
        Answer(503, b'{"error": "Store unavailable"}', {**JSON, "Retry-After": "2"}),
        Answer(500, b'{"error": "Internal server error"}'),
        Answer(200, b'{"chunked": "' + b"y" * 100 + b'"}', chunked=True),
    ],
    ids=lambda a: f"{a.status}{'-chunked' if a.chunked else ''}",
)
async def test_status_body_and_content_type_come_back_unchanged(
    gateway: httpx.AsyncClient, inventory: FakeService, answer: Answer
) -> None:
    inventory.reply = lambda _: answer

    response = await gateway.post("/api/books", json={})

    assert response.status_code == answer.status
    assert response.content == answer.body
    assert response.headers["content-type"] == answer.headers["Content-Type"]
    assert response.headers["content-length"] == str(len(answer.body))
    assert "transfer-encoding" not in response.headers
    if "Retry-After" in answer.headers:
        assert response.headers["retry-after"] == answer.headers["Retry-After"]


async def test_a_compressed_answer_comes_back_compressed_byte_for_byte(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    body = gzip.compress(b'{"title": "' + b"x" * 1000 + b'"}', mtime=0)
    inventory.reply = lambda _: Answer(200, body, {**JSON, "Content-Encoding": "gzip"})

    async with gateway.stream("GET", "/api/books", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])

    assert inventory.last.headers["accept-encoding"] == "gzip"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-length"] == str(len(body))
    assert raw == body


async def test_a_204_comes_back_with_no_body_and_no_content_type(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    inventory.reply = lambda _: Answer(204, b"", {})

    response = await gateway.delete("/api/books/123")

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


async def test_a_204_carries_no_content_length(gateway: httpx.AsyncClient, inventory: FakeService) -> None:
    # RFC 9110 §8.6: a server MUST NOT send Content-Length in a 204; the services themselves do not.
    inventory.reply = lambda _: Answer(204, b"", {})

    response = await gateway.delete("/api/books/123")

    assert response.status_code == 204
    assert "content-length" not in response.headers


async def test_paging_and_replay_headers_come_back(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    headers = {
        **JSON,
        "X-Total-Count": "1234",
        "Link": '</api/books?cursor=abc&limit=2>; rel="next"',
        "Idempotent-Replayed": "true",
        "Set-Cookie": "a=1",
    }
    inventory.reply = lambda _: Answer(headers=headers)

    response = await gateway.get("/api/books?limit=2")

    for name, value in headers.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("value", ["</api/books?q=café>", "price in €"], ids=["e-acute", "euro"])
async def test_a_non_ascii_response_header_comes_back_byte_for_byte(
    gateway: httpx.AsyncClient, inventory: FakeService, value: str
) -> None:
    inventory.reply = lambda _: Answer(headers={**JSON, "X-Note": value})

    response = await gateway.get("/api/books")

    assert response.status_code == 200, response.text
    assert response.headers.raw.count((b"X-Note", value.encode())) == 1


@asynccontextmanager
async def raw_service(response: bytes) -> AsyncIterator[str]:
    """A loopback server that answers every connection with exactly `response`, byte for byte."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_latin_1_response_header_as_starlette_writes_it_comes_back_unchanged(
    services: dict[str, FakeService],
) -> None:
    # Starlette encodes header values as latin-1, so a service may well send the single byte 0xE9.
    wire = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Note: caf\xe9\r\nContent-Length: 2\r\n\r\n{}"
    )

    async with raw_service(wire) as url:
        settings = settings_for(services).model_copy(update={"inventory_url": url})
        async with running_gateway(settings) as gateway:
            response = await gateway.get("/api/books")

    assert response.status_code == 200, response.text
    assert response.headers.raw.count((b"X-Note", b"caf\xe9")) == 1


async def test_the_services_server_date_and_hop_by_hop_headers_stay_behind(
    gateway: httpx.AsyncClient, inventory: FakeService
) -> None:
    inventory.reply = lambda _: Answer(
        headers={**JSON, "Keep-Alive": "timeout=5", "X-Request-ID": "the-service-own-id"}
    )

    response = await gateway.get("/api/books", headers={"X-Request-ID": "from-client"})

    assert "server" not in response.headers  # aiohttp's server sends "Python/3.x aiohttp/..."
    assert "keep-alive" not in response.headers
    assert "connection" not in response.headers
    assert response.headers.get_list("x-request-id") == ["from-client"]


# --- many at once -------------------------------------------------------------------------------


async def test_a_hundred_concurrent_requests_each_get_their_own_answer(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    def echo(seen: Seen) -> Answer:
        item = seen.path.rsplit("/", 1)[1]
        # Uneven delays, so answers come back in another order than the requests went out.
        delay = (int(item.rsplit("_", 1)[1]) * 7 % 10) / 200
        body = f'{{"item": "{item}", "request_id": "{seen.headers["x-request-id"]}"}}'
        return Answer(body=body.encode(), delay=delay)

    for service in services.values():
        service.reply = echo
    prefixes = list(SERVICE_OF_PREFIX)

    async def one(i: int) -> tuple[int, str, httpx.Response]:
        path = f"{prefixes[i % 3]}/item_{i}"
        return i, path, await gateway.get(path, headers={"X-Request-ID": f"req-{i}"})

    results = await asyncio.gather(*(one(i) for i in range(100)))

    for i, _, response in results:
        assert response.status_code == 200, response.text
        assert response.json() == {"item": f"item_{i}", "request_id": f"req-{i}"}
        assert response.headers["x-request-id"] == f"req-{i}"
    for name, service in services.items():
        expected = {path for _, path, _ in results if service_for(path) == name}
        assert {s.path for s in service.api_requests} == expected
