"""Inventory's app as a whole: every error in the envelope, every response with a request id (a
sane one echoed, a junk one replaced), and an API description of every books operation."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import assert_envelope


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/nowhere", 404, "Not found"),
        ("GET", "/internal/holds/order_404", 404, "Hold not found"),
        ("DELETE", "/api/books", 405, "Method not allowed"),
        ("PUT", "/internal/holds", 405, "Method not allowed"),
    ],
)
async def test_unknown_routes_and_wrong_methods_get_the_envelope(
    client: httpx.AsyncClient, method: str, path: str, status: int, error: str
) -> None:
    body = assert_envelope(await client.request(method, path), status)

    assert body["error"] == error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/books"),
        ("GET", "/api/books/999"),
        ("POST", "/internal/holds"),
        ("DELETE", "/api/books"),
        ("GET", "/healthz"),
    ],
)
async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert response.headers["x-request-id"]


async def test_a_sane_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    sane = "req-42.abc:XYZ_9"
    ok = await client.get("/api/books", headers={"X-Request-ID": sane})
    missing = await client.get("/api/books/999", headers={"X-Request-ID": sane})

    assert ok.headers["x-request-id"] == sane
    assert assert_envelope(missing, 404)["request_id"] == sane


@pytest.mark.parametrize("junk", ["x" * 300, "has spaces in it", "semi;colon", "ünïcode"])
async def test_a_junk_client_request_id_is_replaced(client: httpx.AsyncClient, junk: str) -> None:
    response = await client.get("/api/books/999", headers=[(b"x-request-id", junk.encode())])

    replaced = response.headers["x-request-id"]
    assert replaced and replaced != junk
    assert " " not in replaced and len(replaced) <= 128
    assert assert_envelope(response, 404)["request_id"] == replaced


# --- the API description ------------------------------------------------------------------------


async def test_every_books_operation_is_described_with_its_errors_and_internal_routes_are_not(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {
        (method, path): op for path, item in document["paths"].items() for method, op in item.items()
    }

    assert not [path for _, path in operations if path.startswith("/internal")]
    expected = {
        ("get", "/api/books"): {"400"},
        ("get", "/api/books/{book_id}"): {"404"},
        ("post", "/api/books"): {"400", "403", "409"},
        ("patch", "/api/books/{book_id}"): {"400", "403", "404", "409"},
        ("post", "/api/books/{book_id}/stock"): {"400", "403", "404", "409"},
        ("delete", "/api/books/{book_id}"): {"403", "404", "409"},
    }
    assert set(operations) >= set(expected)
    for key, errors in expected.items():
        op = operations[key]
        assert op["summary"] and op["description"], key
        assert errors <= set(op["responses"]), key
        for status in errors:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, key
    schemas = document["components"]["schemas"]
    for name in ("BookIn", "BookPatch", "StockIn"):
        assert schemas[name]["examples"], name
    assert "204" in operations["delete", "/api/books/{book_id}"]["responses"]
