"""A signed call captured between the gateway and inventory cannot be changed or used twice.

The gateway forwards to a recorder (it answers 503 and keeps the request, so the signature is still
unused); the test then sends the captured request straight to the real inventory, changed in one
way at a time (each refused), then as it was (taken once, and only once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import user_client


@dataclass(frozen=True)
class Captured:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    """An HTTP server on a free loopback port that keeps every request and answers 503."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        start, *lines = head.split("\r\n")[:-2]
        method, target, _ = start.split(" ")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Captured(method, target, headers, body))
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def captured(tmp_path: Path) -> AsyncIterator[tuple[LocalSystem, Captured]]:
    """A staff stock change (+1 on book 123) as the gateway signed it for inventory, never delivered."""
    recorder = Recorder()
    await recorder.start()
    system = LocalSystem(tmp_path)
    system.specs["gateway"].env["GATEWAY_INVENTORY_URL"] = recorder.url
    try:
        system.start()
        async with user_client(system.url) as client:
            answer = await client.post("/api/books/123/stock", json={"delta": 1})
        assert answer.status_code == 503
        [request] = recorder.requests
        yield system, request
    finally:
        system.close()
        await recorder.stop()


async def send(system: LocalSystem, request: Captured) -> httpx.Response:
    headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
    async with httpx.AsyncClient(base_url=system.service_url("inventory")) as inventory:
        return await inventory.request(request.method, request.target, headers=headers, content=request.body)


async def test_a_captured_signature_covers_the_whole_request_and_is_good_once(
    captured: tuple[LocalSystem, Captured],
) -> None:
    system, request = captured
    principal = {**request.headers, "x-principal-subject": "admin_1"}
    changed = {
        "body": replace(request, body=request.body.replace(b"1", b"500")),
        "query": replace(request, target=request.target + "?delta=500"),
        "method": replace(request, method="PATCH"),
        "principal": replace(request, headers=principal),
        "path": replace(request, target="/api/books/456/stock"),
    }

    for what, variant in changed.items():
        response = await send(system, variant)
        assert response.status_code == 401, (what, response.text)
        assert response.json()["error"] == "Unauthorized"

    first = await send(system, request)
    assert first.status_code == 200, first.text
    assert first.json()["stock"] == 51  # 50 seeded, +1: no changed copy got through
    again = await send(system, request)
    assert again.status_code == 401, again.text
