"""Request ids and headers on every response the gateway builds itself: a sane client id echoed, a junk
one replaced, a fresh one each time, and no Server header."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import AUTH

FRESH_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


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
