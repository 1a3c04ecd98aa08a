"""The gateway in-process, with every service refusing connections: authentication, routing, limits
and the errors the gateway builds itself (the forwarding itself is in
tests/integration/test_gateway_proxy.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import TokenAuthenticator
from gateway.settings import GatewaySettings
from shared.principal import Principal
from tests.unit.fake_instances import instance, refusing

TOKEN = "my_secure_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SERVICES = {"inventory", "sales", "delivery"}
FRESH_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


@asynccontextmanager
async def running_gateway(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in-process, in front of services that refuse every connection (no socket)."""
    services = {name: refusing(name) for name in SERVICES}
    app = create_app(GatewaySettings(**settings), **services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            yield c


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway() as c:
        yield c


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The contract's error shape, never FastAPI's `{"detail": ...}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "detail" not in body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- the token authenticator --------------------------------------------------------------------


def test_the_development_token_is_an_admin_called_dev() -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(f"Bearer {TOKEN}") == Principal("dev", frozenset({"admin"}))


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(f"{scheme} {TOKEN}") == Principal("dev", frozenset({"admin"}))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Basic {TOKEN}",
        "Basic ZGV2Om15X3NlY3VyZV90b2tlbg==",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        TOKEN,
        f"Token {TOKEN}",
        "Bearer " + "a" * 5000,
        f"Bearer {TOKEN}" + " " + "a" * 5000,
    ],
    ids=lambda value: repr(value)[:30],
)
def test_anything_but_a_known_bearer_token_is_nobody(authorization: str | None) -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(authorization) is None


def test_an_authenticator_without_tokens_knows_nobody() -> None:
    assert TokenAuthenticator({}).authenticate(f"Bearer {TOKEN}") is None


# --- authentication comes first -----------------------------------------------------------------

API_PATHS = [
    "/api",
    "/api/",
    "/api/books",
    "/api/books/123",
    "/api/books/does-not-exist",
    "/api/books/123/stock",
    "/api/orders/order_1/cancel",
    "/api/deliveries",
    "/api/unknown",
    "/api/booksX",
    "/api/books/%2e%2e/orders",
]
NO_VALID_TOKEN = [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"]


@pytest.mark.parametrize("authorization", NO_VALID_TOKEN)
@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", METHODS)
async def test_every_api_request_without_a_valid_token_is_401_before_anything_else(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await client.request(method, path, headers=headers, content=b'{"title": "x"}')

    body = assert_envelope(response, 401)
    assert body == {"error": "Unauthorized", "request_id": response.headers["x-request-id"]}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_body_over_the_limit_without_a_token_is_401_not_413() -> None:
    async with running_gateway(max_body_bytes=1000) as client:
        response = await client.post("/api/books", content=b"x" * 5000)

    assert_envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_development_token_is_refused_when_none_is_configured() -> None:
    async with running_gateway(dev_token=None) as client:
        response = await client.get("/api/books", headers=AUTH)

    assert_envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_configured_dev_token_replaces_the_default_one() -> None:
    async with running_gateway(dev_token="another_token") as client:
        refused = await client.get("/api/books", headers=AUTH)
        accepted = await client.get("/api/books", headers={"Authorization": "Bearer another_token"})

    assert_envelope(refused, 401)
    assert_envelope(accepted, 503)  # past authentication, on to the (unreachable) inventory


# --- routing and limits, with a valid token -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/",
        "/api/unknown",
        "/api/unknown/books",
        "/api/booksX",
        "/api/books.json",
        "/api/ordersX/order_1",
        "/api/delivery",
        "/api/internal/holds/order_1",
    ],
)
@pytest.mark.parametrize("method", METHODS)
async def test_an_api_path_no_service_owns_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, headers=AUTH)

    body = assert_envelope(response, 404)
    assert body["error"] == "Not found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/books/%2e%2e/orders",
        "/api/books/%2E%2E/%2E%2E/internal/holds/order_1",
        "/api/books/%2e",
        "/api/orders/%2e/order_1",
        "/api/books%2f%2e%2e%2finternal",
    ],
)
async def test_a_dot_segment_is_404_and_never_forwarded(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=AUTH)

    # Forwarded, it would be a 503 from the unreachable upstream.
    assert_envelope(response, 404)


async def test_a_body_over_the_limit_is_413() -> None:
    async with running_gateway(max_body_bytes=1000) as client:
        response = await client.post("/api/books", headers=AUTH, content=b"x" * 1001)

    body = assert_envelope(response, 413)
    assert body["error"] == "Request body too large"


async def test_a_body_of_exactly_the_limit_is_let_through() -> None:
    async with running_gateway(max_body_bytes=1000) as client:
        response = await client.post("/api/books", headers=AUTH, content=b"x" * 1000)

    assert_envelope(response, 503)  # forwarded, to an inventory that is not there


async def test_a_streamed_body_over_the_limit_is_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    async with running_gateway(max_body_bytes=1000) as client:
        response = await client.post("/api/orders", headers=AUTH, content=chunks())

    assert_envelope(response, 413)


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/books", "inventory"),
        ("/api/books/123", "inventory"),
        ("/api/orders", "sales"),
        ("/api/orders/order_1/cancel", "sales"),
        ("/api/deliveries", "delivery"),
        ("/api/deliveries/del_1", "delivery"),
    ],
)
async def test_a_service_refusing_connections_is_503_naming_it(
    client: httpx.AsyncClient, path: str, service: str
) -> None:
    response = await client.post(path, headers=AUTH, json={})

    body = assert_envelope(response, 503)
    assert body["error"] == f"The {service} service is unavailable"
    assert int(response.headers["retry-after"]) >= 1


# --- forwarding, to services in-process -----------------------------------------------------------


async def test_a_request_reaches_the_service_that_owns_its_prefix_and_its_answer_comes_back() -> None:
    seen: list[httpx.Request] = []

    def inventory(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b'{"id": "1"}', headers={"X-Note": "kept"})

    services = {name: refusing(name) for name in SERVICES}
    services["inventory"] = httpx.AsyncClient(transport=httpx.MockTransport(inventory), base_url="http://i")
    app = create_app(GatewaySettings(), **services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=AUTH) as c:
            response = await c.post("/api/books/a%2Fb?q=caf%C3%A9", content=b'{"title": "x"}')

    assert (response.status_code, response.content, response.headers["x-note"]) == (
        201,
        b'{"id": "1"}',
        "kept",
    )
    [request] = seen
    assert request.url.raw_path == b"/api/books/a%2Fb?q=caf%C3%A9"
    assert request.content == b'{"title": "x"}'
    assert request.headers["x-principal-subject"] == "dev"
    assert "authorization" not in request.headers


async def test_an_instance_that_refuses_is_skipped_for_the_next() -> None:
    inventory = [refusing("down"), instance("up")]
    services = {"sales": refusing("sales"), "delivery": refusing("delivery")}
    app = create_app(GatewaySettings(), inventory=inventory, **services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=AUTH) as c:
            answers = [(await c.post("/api/books", json={})).json() for _ in range(4)]

    assert answers == [{"instance": "up"}] * 4


# --- health, non-API paths ----------------------------------------------------------------------


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_503_listing_every_unreachable_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    body = assert_envelope(response, 503)
    assert {item["component"] for item in body["details"]} == SERVICES
    assert all(item["problem"] for item in body["details"])
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "path", ["/nope", "/internal/holds/order_1", "/API/books", "/apix", "/healthz/extra"]
)
async def test_an_unknown_path_outside_api_is_a_404_envelope(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    body = assert_envelope(response, 404)
    assert body["error"] == "Not found"


async def test_a_wrong_method_outside_api_is_a_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")

    body = assert_envelope(response, 405)
    assert body["error"] == "Method not allowed"


# --- request ids and headers on what the gateway builds itself ----------------------------------

GATEWAY_BUILT = [
    ("GET", "/api/books", {}, b"", 401),
    ("GET", "/api/unknown", AUTH, b"", 404),
    ("GET", "/api/books/%2e%2e/orders", AUTH, b"", 404),
    ("POST", "/api/books", AUTH, b"x" * 2_000_000, 413),
    ("POST", "/api/orders", AUTH, b"{}", 503),
    ("GET", "/healthz", {}, b"", 200),
    ("GET", "/readyz", {}, b"", 503),
    ("GET", "/nope", {}, b"", 404),
    ("POST", "/healthz", {}, b"", 405),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), GATEWAY_BUILT)
async def test_every_response_echoes_a_sane_client_request_id(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    sent = "client-id_1.2:3"

    response = await client.request(method, path, headers={**headers, "X-Request-ID": sent}, content=body)

    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == [sent]
    if status >= 400:
        assert response.json()["request_id"] == sent


@pytest.mark.parametrize("junk", ["has space", "x" * 129, "<script>", "a\tb", "ünï"])
@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), GATEWAY_BUILT)
async def test_every_response_replaces_a_junk_request_id_with_a_fresh_one(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    junk: str,
) -> None:
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"x-request-id", junk.encode()))

    response = await client.request(method, path, headers=raw_headers, content=body)

    assert response.status_code == status
    [request_id] = response.headers.get_list("x-request-id")
    assert request_id != junk
    assert FRESH_ID.fullmatch(request_id)
    if status >= 400:
        assert response.json()["request_id"] == request_id


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), GATEWAY_BUILT)
async def test_every_response_without_a_client_id_gets_a_new_one_each_time(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    first = await client.request(method, path, headers=headers, content=body)
    second = await client.request(method, path, headers=headers, content=body)

    assert first.status_code == second.status_code == status
    assert FRESH_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), GATEWAY_BUILT)
async def test_gateway_built_responses_do_not_name_the_server(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    response = await client.request(method, path, headers=headers, content=body)

    assert response.status_code == status
    assert "server" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))
