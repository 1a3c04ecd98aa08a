"""Real HTTP servers on loopback that stand in for the services, and the gateway in front of them.

Each fake service records every request byte for byte and answers as the test tells it to, so the
gateway's tests see exactly what crosses the wire in both directions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.helpers import AUTH

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


def service_for(path: str) -> str:
    return next(name for prefix, name in SERVICE_OF_PREFIX.items() if path.startswith(prefix))
