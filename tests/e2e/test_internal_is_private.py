"""The services' /internal API cannot be reached through the gateway, however the path is written.

HTTP clients resolve `..` themselves, so these requests go out over a raw socket, byte for byte.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import TOKEN, order_body, stock

SNEAKY_PATHS = [
    "/internal/holds/order_1",
    "/api/books/../../internal/holds/order_1/release",
    "/api/books/%2e%2e/%2e%2e/internal/holds/order_1/release",
    "/api/books/%2E%2E/%2E%2E/internal/holds/order_1/release",
    "/api/orders/./../../internal/orders/order_1",
    "/api/books/..%2f..%2finternal/holds/order_1/release",
]


async def raw_request(port: int, method: str, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("path", SNEAKY_PATHS)
async def test_internal_paths_are_not_reachable_through_the_gateway(
    client: httpx.AsyncClient, system: LocalSystem, path: str
) -> None:
    assert (await client.post("/api/orders", json=order_body("123", 5))).status_code == 201

    for method in ("GET", "POST"):
        status, body = await raw_request(system.port, method, path)
        assert status in (400, 404, 405), (method, path, status, body)
        assert b'"error"' in body

    # Had a release landed, the committed hold would refuse it, but a held one would go back:
    # either way the order must still be confirmed and its units still sold.
    assert (await client.get("/api/orders/order_1")).json()["status"] == "Confirmed"
    assert await stock(client, "123") == 45
