"""Outbound HTTP between services: a pooled aiohttp session per upstream instance, spread round robin,
each behind a circuit breaker, with transport errors mapped to the contract's 503/504.

aiohttp, not httpx: under load httpx's connection pool cost sales about half its CPU (httpx #3215;
docs/benchmarks.md). An httpx client still plugs in (`HttpxInstance`), so tests can put a fake
(`httpx.MockTransport`) or an app in-process (`httpx.ASGITransport`) behind the same `Upstream`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import httpx
import orjson
from yarl import URL

from shared import internal, metrics, tracing
from shared.breaker import CircuitOpen, Protection, State
from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.errors import AppError, ServiceUnavailable, UpstreamTimeout
from shared.settings import ServiceSettings


class TransportFailure(Exception):
    """The call got no answer; the cause is the client library's own exception."""


class Refused(TransportFailure):
    """The connection was refused: the request never reached the instance, another may take it."""


class TimedOut(TransportFailure):
    """No answer in time: the instance may have acted on the request."""


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """An upstream's answer, read whole: what the clients of `Upstream.call` look at."""

    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.content)  # orjson.JSONDecodeError is a ValueError


class Instance(Protocol):
    """One instance of an upstream service, reached over one pooled client."""

    base_url: str

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, time_limit: float | None
    ) -> UpstreamResponse:
        """The answer, or a TransportFailure (Refused, TimedOut, or another) when there is none."""

    async def aclose(self) -> None: ...


class AiohttpInstance:
    """The instance every service runs with: one aiohttp session, opened on first use (in the loop)."""

    def __init__(self, base_url: str, connect_timeout: float, request_timeout: float) -> None:
        self.base_url = base_url
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # keepalive shorter than the services' 75 s, so a pooled socket is never reused as it closes.
        connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, skip_auto_headers=("User-Agent",)
        )
        return self._session

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, time_limit: float | None
    ) -> UpstreamResponse:
        session = self._session or self._open()
        # encoded=True: the path is sent as given, as it was signed.
        url = URL(self.base_url + path, encoded=True)
        # Only when given: aiohttp reads timeout=None as no time limit at all.
        extra: dict[str, Any] = {} if time_limit is None else {"timeout": aiohttp.ClientTimeout(time_limit)}
        try:
            async with session.request(
                method, url, headers=headers, data=body, allow_redirects=False, **extra
            ) as response:
                return UpstreamResponse(response.status, await response.read(), response.headers)
        except aiohttp.ClientConnectorError as exc:
            raise Refused() from exc
        except TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise TransportFailure() from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxInstance:
    """An httpx client as an instance: for fakes and in-process apps in tests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.base_url = str(client.base_url).rstrip("/")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, time_limit: float | None
    ) -> UpstreamResponse:
        extra: dict[str, Any] = {} if time_limit is None else {"timeout": time_limit}
        try:
            response = await self.client.request(method, path, headers=headers, content=body, **extra)
        except httpx.ConnectError as exc:
            raise Refused() from exc
        except httpx.TimeoutException as exc:
            raise TimedOut() from exc
        except httpx.TransportError as exc:
            raise TransportFailure() from exc
        return UpstreamResponse(response.status_code, response.content, response.headers)

    async def aclose(self) -> None:
        await self.client.aclose()


def base_urls(setting: str) -> list[str]:
    """A setting naming one base URL or several, comma-separated (one per instance)."""
    urls = [url.strip().rstrip("/") for url in setting.split(",") if url.strip()]
    if not urls:
        raise ValueError("no base URL given")
    return urls


def make_clients(setting: str, settings: ServiceSettings) -> list[Instance]:
    """One pooled client per instance the setting names."""
    return [
        AiohttpInstance(url, settings.connect_timeout, settings.request_timeout) for url in base_urls(setting)
    ]


def outbound_headers(method: str, path: str, secret: str | None) -> dict[str, str]:
    """The headers every call between services carries: the current request id and trace, and the
    internal signature when a secret is configured. The one place they are built."""
    headers = {}
    request_id = request_id_var.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    traceparent = tracing.outgoing()  # this request's span, as the parent of the call
    if traceparent:
        headers[tracing.HEADER] = traceparent
    if secret:
        headers[internal.HEADER] = internal.sign(secret, method, path.split("?", 1)[0])
    return headers


class Upstream:
    """A named upstream service with one or more instances, each behind its own circuit breaker.

    Calls go round robin; an instance that refuses the connection, or whose breaker is open, is
    skipped for the next one (the request never reached it, so this is safe for any method). Only
    when no instance takes the call is it 503; a timeout is 504 at once (the request may have been
    acted on). At most `protection.max_concurrent` calls are in flight; beyond that it is 503 at once.

    One breaker per instance, not per service: a frozen instance among healthy ones times out on its
    turns only, so a shared count would never reach the threshold while every other call succeeded;
    its own breaker opens and its turns go to the others. When every instance is open the service
    fails fast as a whole. Only transport failures and timeouts count: any answer, 4xx or 5xx, is the
    instance working (a 503 it answers usually means its own upstream is down, which its own breaker
    handles; counting it here would also cut off its routes that still work).
    """

    def __init__(
        self,
        name: str,
        clients: Instance | httpx.AsyncClient | Sequence[Instance | httpx.AsyncClient],
        protection: Protection | None = None,
        *,
        secret: str | None = None,
    ) -> None:
        self.name = name
        self.secret = secret
        listed = list(clients) if isinstance(clients, Sequence) else [clients]
        self.clients: list[Instance] = [
            HttpxInstance(c) if isinstance(c, httpx.AsyncClient) else c for c in listed
        ]
        self._turn = itertools.cycle(range(len(self.clients)))
        protection = protection or Protection()
        self.breakers = [protection.breaker(name, (TransportFailure,)) for _ in self.clients]
        self.bulkhead = protection.bulkhead(name)
        self._unwatch = metrics.watch_breakers(lambda: {self.name: self.breaker_states()})

    @classmethod
    def from_settings(cls, name: str, setting: str, settings: ServiceSettings) -> Upstream:
        """The instances `setting` names, guarded as `settings` says (breaker and concurrency bound)."""
        return cls(
            name,
            make_clients(setting, settings),
            Protection.from_settings(settings),
            secret=settings.internal_secret,
        )

    def breaker_states(self) -> dict[str, State]:
        """Each instance's breaker state by base URL (for metrics)."""
        return {c.base_url: b.state for c, b in zip(self.clients, self.breakers, strict=True)}

    async def call(self, method: str, path: str, json: Any = None) -> UpstreamResponse:
        """One call, counted in `upstream_requests_total` by outcome and timed."""
        started = time.perf_counter()
        try:
            async with self.bulkhead.slot():
                response = await self._call(method, path, json)
        except AppError as exc:
            metrics.observe_upstream(self.name, metrics.failed(exc), time.perf_counter() - started)
            raise
        outcome = metrics.answered(response.status_code)
        metrics.observe_upstream(self.name, outcome, time.perf_counter() - started)
        return response

    async def _call(self, method: str, path: str, json: Any) -> UpstreamResponse:
        headers = outbound_headers(method, path, self.secret)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            headers["content-type"] = "application/json"
        first = next(self._turn)
        shut: list[CircuitOpen] = []
        for i in range(len(self.clients)):
            k = (first + i) % len(self.clients)
            try:
                with self.breakers[k].attempt():
                    return await self.clients[k].request(method, path, headers, body, None)
            except CircuitOpen as exc:
                shut.append(exc)
            except Refused:
                continue
            except TimedOut as exc:
                raise UpstreamTimeout(f"The {self.name} service did not answer in time") from exc
            except TransportFailure as exc:
                raise ServiceUnavailable(f"The {self.name} service is unavailable") from exc
        if len(shut) == len(self.clients):
            raise min(shut, key=lambda exc: exc.retry_after)
        raise ServiceUnavailable(f"The {self.name} service is unavailable")

    async def ready(self) -> None:
        """Ready while at least one instance answers."""
        errors = []
        for client in self.clients:
            try:
                response = await client.request("GET", "/healthz", {}, None, 1.0)
            except TransportFailure as exc:
                errors.append(f"{client.base_url}: {type(exc.__cause__ or exc).__name__}")
                continue
            if response.status_code < 400:
                return
            errors.append(f"{client.base_url}: status {response.status_code}")
        raise RuntimeError("; ".join(errors))

    async def aclose(self) -> None:
        self._unwatch()
        for client in self.clients:
            await client.aclose()
