"""The gateway's forwarding, against real HTTP servers on loopback that stand in for the services.

Each fake service records every request byte for byte and answers as the test tells it to, so these
tests see exactly what crosses the wire in both directions.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.settings import GatewaySettings

TOKEN = "my_secure_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLIENT_ADDRESS = ("198.51.100.4", 50123)
SERVICE_OF_PREFIX = {"/api/books": "inventory", "/api/orders": "sales", "/api/deliveries": "delivery"}
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Seen:
    """One request as the fake service received it."""

    method: str
    path: str  # raw, as on the request line
    query: str  # raw, without the `?`
    headers: CIMultiDictProxy[str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def raw_values(self, name: str) -> list[bytes]:
        return [v for k, v in self.raw_headers if k.lower() == name.encode()]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    delay: float = 0.0
    chunked: bool = False


class FakeService:
    """A real aiohttp server on 127.0.0.1 that records what it gets and answers with `reply(seen)`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[Seen] = []
        self.reply: Callable[[Seen], Answer] = lambda _: Answer()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown: a handler still sleeping for a timed-out request is cancelled, not awaited.
        self._runner = web.AppRunner(app, shutdown_timeout=0.2)
        self.url = ""

    @property
    def api_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path != "/healthz"]

    @property
    def last(self) -> Seen:
        return self.api_requests[-1]

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        seen = Seen(request.method, path, query, request.headers, request.raw_headers, await request.read())
        self.seen.append(seen)
        answer = self.reply(seen)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if not answer.chunked:
            return web.Response(status=answer.status, body=answer.body or None, headers=answer.headers)
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(answer.body), 7):
            await response.write(answer.body[start : start + 7])
        await response.write_eof()
        return response


def settings_for(services: dict[str, FakeService], **overrides: float) -> GatewaySettings:
    return GatewaySettings(
        inventory_url=services["inventory"].url,
        sales_url=services["sales"].url,
        delivery_url=services["delivery"].url,
        **overrides,
    )


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # As a real server would: an exception escaping the app is a 500, not an error in the test.
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=AUTH) as c:
            yield c


@pytest.fixture
async def services() -> AsyncIterator[dict[str, FakeService]]:
    fakes = {name: FakeService(name) for name in ("inventory", "sales", "delivery")}
    try:
        for fake in fakes.values():
            await fake.start()
        yield fakes
    finally:
        for fake in fakes.values():
            await fake.close()


@pytest.fixture
def inventory(services: dict[str, FakeService]) -> FakeService:
    return services["inventory"]


@pytest.fixture
async def gateway(services: dict[str, FakeService]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(settings_for(services)) as client:
        yield client


def service_for(path: str) -> str:
    return next(name for prefix, name in SERVICE_OF_PREFIX.items() if path.startswith(prefix))


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


# --- a slow or broken service -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "service"), [("/api/books", "inventory"), ("/api/orders", "sales")])
async def test_a_service_slower_than_the_request_timeout_is_504(
    services: dict[str, FakeService], path: str, service: str
) -> None:
    services[service].reply = lambda _: Answer(delay=3.0)

    async with running_gateway(settings_for(services, request_timeout=0.3)) as gateway:
        started = time.perf_counter()
        response = await gateway.get(path)
        elapsed = time.perf_counter() - started

    assert response.status_code == 504
    body = response.json()
    assert body == {
        "error": f"The {service} service did not answer in time",
        "request_id": response.headers["x-request-id"],
    }
    assert response.headers["content-type"] == "application/json"
    assert elapsed < 2.0


async def test_a_service_answering_within_the_timeout_is_not_504(services: dict[str, FakeService]) -> None:
    services["inventory"].reply = lambda _: Answer(delay=0.05)

    async with running_gateway(settings_for(services, request_timeout=1.0)) as gateway:
        response = await gateway.get("/api/books")

    assert response.status_code == 200


async def test_a_service_that_went_away_is_503_naming_it(services: dict[str, FakeService]) -> None:
    async with running_gateway(settings_for(services)) as gateway:
        await services["delivery"].close()
        response = await gateway.get("/api/deliveries/del_1")

    assert response.status_code == 503
    assert response.json()["error"] == "The delivery service is unavailable"
    assert response.headers["retry-after"]


async def test_readyz_is_ready_when_every_service_answers(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/readyz")

    assert response.status_code == 200, response.text


async def test_readyz_names_only_the_service_that_fails_its_health_check(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    services["sales"].reply = lambda _: Answer(500, b'{"error": "down"}')

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    assert [item["component"] for item in response.json()["details"]] == ["sales"]


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


# --- several instances of a service ---------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_requests_take_turns_over_a_services_instances(services: dict[str, FakeService]) -> None:
    second = FakeService("inventory")
    await second.start()
    try:
        settings = settings_for(services)
        settings.inventory_url = f"{services['inventory'].url},{second.url}"
        async with running_gateway(settings) as gateway:
            for _ in range(6):
                assert (await gateway.get("/api/books")).status_code == 200
        assert (len(services["inventory"].api_requests), len(second.api_requests)) == (3, 3)
    finally:
        await second.close()


async def test_an_instance_that_is_down_is_skipped_even_for_a_post(services: dict[str, FakeService]) -> None:
    settings = settings_for(services)
    settings.sales_url = f"http://127.0.0.1:{_closed_port()},{services['sales'].url}"
    async with running_gateway(settings) as gateway:
        statuses = [(await gateway.post("/api/orders", json={"n": n})).status_code for n in range(4)]

    assert statuses == [200] * 4
    assert [r.body for r in services["sales"].api_requests] == [b'{"n":%d}' % n for n in range(4)]


async def test_every_instance_down_is_503(services: dict[str, FakeService]) -> None:
    settings = settings_for(services)
    settings.delivery_url = f"http://127.0.0.1:{_closed_port()},http://127.0.0.1:{_closed_port()}"
    async with running_gateway(settings) as gateway:
        response = await gateway.get("/api/deliveries/del_1")

    assert response.status_code == 503
    assert response.json()["error"] == "The delivery service is unavailable"
    assert response.headers["retry-after"]
