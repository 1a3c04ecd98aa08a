"""One running process of an upstream, reached over one pooled connection set (`Instance`): the
aiohttp session every process runs with, an httpx client for tests, the transport failures both
report, and the answer they return. `shared.http.Upstream` spreads calls over them.

aiohttp, not httpx: under load httpx's connection pool cost a calling service about half its CPU (httpx #3215;
docs/benchmarks.md). An httpx client still plugs in (`HttpxInstance`), so tests can put a fake
(`httpx.MockTransport`) or an app in-process (`httpx.ASGITransport`) behind the same `Upstream`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import httpx
import orjson
from yarl import URL

Headers = Mapping[str, str]
RawHeaders = Sequence[tuple[bytes, bytes]]


class TransportFailure(Exception):
    """The call got no answer; the cause is the client library's own exception."""


class Refused(TransportFailure):
    """The connection was refused: the request never reached the instance, another may take it."""


class TimedOut(TransportFailure):
    """No answer in time: the instance may have acted on the request."""


@dataclass(slots=True)  # not frozen: built on every call, and a frozen init costs four times as much
class UpstreamResponse:
    """An upstream's answer, read whole. `raw_headers` are its header bytes exactly as they came, for
    a proxy that must not re-encode them."""

    status_code: int
    content: bytes
    headers: Headers = field(default_factory=dict)
    raw_headers: RawHeaders = ()

    def json(self) -> Any:
        return orjson.loads(self.content)  # orjson.JSONDecodeError is a ValueError


class Instance(Protocol):
    """One running process of an upstream, reached over one pooled connection set."""

    base_url: str

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes | None, decompress: bool
    ) -> UpstreamResponse:
        """The answer to `path` (with its query, sent byte for byte), or a TransportFailure (Refused,
        TimedOut, or another) when there is none; `decompress` False keeps a compressed body as is."""

    async def aclose(self) -> None: ...


class AiohttpInstance:
    """The instance every process runs with: one aiohttp session, opened on first use (in the loop)."""

    def __init__(
        self, base_url: str, connect_timeout: float, request_timeout: float, pool: int = 200
    ) -> None:
        self.base_url = base_url
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self.pool = pool
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # keepalive shorter than the services' 75 s, so a pooled socket is never reused as it closes.
        # No DNS cache: a restarted container has a new address (compose), and a cached one would
        # time out every new connection for aiohttp's 10 s; sockets are pooled, so lookups are rare.
        connector = aiohttp.TCPConnector(limit=self.pool, keepalive_timeout=30, use_dns_cache=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, skip_auto_headers=("User-Agent",)
        )
        return self._session

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes | None, decompress: bool
    ) -> UpstreamResponse:
        session = self._session or self._open()
        # encoded=True: the path is sent as given, as it was signed; parsing would resolve `..`.
        url = URL(self.base_url + path, encoded=True)
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                auto_decompress=decompress,
            ) as response:
                content = await response.read()
                return UpstreamResponse(response.status, content, response.headers, response.raw_headers)
        except aiohttp.ClientConnectorError as exc:
            raise Refused() from exc
        except TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise TransportFailure() from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxInstance:
    """An httpx client as an instance: for fakes and in-process apps in tests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.base_url = str(client.base_url).rstrip("/")

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes | None, decompress: bool
    ) -> UpstreamResponse:
        request = self.client.build_request(method, path, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
            try:
                content = await response.aread() if decompress else await _raw_body(response)
            finally:
                await response.aclose()
        except httpx.ConnectError as exc:
            raise Refused() from exc
        except httpx.TimeoutException as exc:
            raise TimedOut() from exc
        except httpx.TransportError as exc:
            raise TransportFailure() from exc
        return UpstreamResponse(response.status_code, content, response.headers, response.headers.raw)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _raw_body(response: httpx.Response) -> bytes:
    """The body still encoded, as it came. Not `aiter_raw()`: it refuses the body of a fake answer,
    which httpx reads (and decodes) as the fake builds it."""
    assert isinstance(response.stream, httpx.AsyncByteStream)
    return b"".join([chunk async for chunk in response.stream])
