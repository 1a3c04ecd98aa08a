"""Where the gateway sends a request with a valid token, and what it answers itself: a path no service
owns, a dot segment, a body over the limit, a service that refuses connections (at once, then with
its breaker open), the health paths; and the route templates it labels its metrics with."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.routes import Route
from gateway.settings import GatewaySettings
from shared.http import Upstream
from tests.helpers import AUTH, assert_envelope
from tests.unit.fake_instances import instance, refusing
from tests.unit.gateway.in_process import running_gateway

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SERVICES = {"inventory", "sales", "delivery"}


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
    async with running_gateway(GatewaySettings(max_body_bytes=1000)) as client:
        response = await client.post("/api/books", headers=AUTH, content=b"x" * 1001)

    body = assert_envelope(response, 413)
    assert body["error"] == "Request body too large"


async def test_a_body_of_exactly_the_limit_is_let_through() -> None:
    async with running_gateway(GatewaySettings(max_body_bytes=1000)) as client:
        response = await client.post("/api/books", headers=AUTH, content=b"x" * 1000)

    assert_envelope(response, 503)  # forwarded, to an inventory that is not there


async def test_a_streamed_body_over_the_limit_is_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    async with running_gateway(GatewaySettings(max_body_bytes=1000)) as client:
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

    to_inventory = httpx.AsyncClient(transport=httpx.MockTransport(inventory), base_url="http://i")
    async with running_gateway(headers=AUTH, inventory=to_inventory) as c:
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
    async with running_gateway(headers=AUTH, inventory=[refusing("down"), instance("up")]) as c:
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
    assert "://" not in response.text  # no address of an instance: this answer can be public
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


# --- in the gateway -------------------------------------------------------------------------------


async def test_the_gateway_fails_fast_once_a_service_keeps_refusing_connections() -> None:
    async with running_gateway(GatewaySettings(breaker_failures=5), headers=AUTH) as client:
        refused = [(await client.get("/api/books/123")).json()["error"] for _ in range(5)]
        fast = await client.get("/api/books/123")
        other = await client.get("/api/orders/order_1")

    assert refused == ["The inventory service is unavailable"] * 5
    assert fast.status_code == 503
    assert fast.json()["error"] == "The inventory service is unavailable (circuit open)"
    assert int(fast.headers["retry-after"]) >= 1
    assert other.json()["error"] == "The sales service is unavailable"  # each service has its own


# --- metrics labels ----------------------------------------------------------------------------


async def test_the_gateway_labels_a_path_by_its_service_prefix_with_ids_replaced() -> None:
    inventory = Upstream("inventory", httpx.AsyncClient(base_url="http://i"))
    sales = Upstream("sales", httpx.AsyncClient(base_url="http://s"))
    books = Route("/api/books", inventory)
    orders = Route("/api/orders", sales)
    assert books.template("/api/books") == "/api/books"
    assert books.template("/api/books/") == "/api/books"
    assert books.template("/api/books/978-0") == "/api/books/{id}"
    assert books.template("/api/books/978-0/stock") == "/api/books/{id}/stock"
    assert orders.template("/api/orders/order_7/cancel") == "/api/orders/{id}/cancel"
    assert orders.template("/api/orders/order_7/x/y/z") == "/api/orders/{id}/*"
    await inventory.aclose()
    await sales.aclose()
