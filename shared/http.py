"""Outbound HTTP between services: pooled httpx clients per upstream instance, spread round robin,
each behind a circuit breaker, with transport errors mapped to the contract's 503/504."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from shared import internal, metrics, tracing
from shared.breaker import CircuitOpen, Protection, State
from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.errors import AppError, ServiceUnavailable, UpstreamTimeout
from shared.principal import ROLES_HEADER, SUBJECT_HEADER
from shared.settings import ServiceSettings


async def _stamp_request_id(request: httpx.Request) -> None:
    """The current request's id and, as the parent of the call, its span (W3C trace context)."""
    request_id = request_id_var.get()
    if request_id:
        request.headers[REQUEST_ID_HEADER] = request_id
    traceparent = tracing.outgoing()
    if traceparent:
        request.headers[tracing.HEADER] = traceparent


def base_urls(setting: str) -> list[str]:
    """A setting naming one base URL or several, comma-separated (one per instance)."""
    urls = [url.strip().rstrip("/") for url in setting.split(",") if url.strip()]
    if not urls:
        raise ValueError("no base URL given")
    return urls


def _signer(secret: str) -> Callable[[httpx.Request], Awaitable[None]]:
    async def sign_request(request: httpx.Request) -> None:
        path = request.url.raw_path.split(b"?", 1)[0].decode("latin-1")
        request.headers[internal.HEADER] = internal.sign(
            secret,
            request.method,
            path,
            request.headers.get(SUBJECT_HEADER, ""),
            request.headers.get(ROLES_HEADER, ""),
        )

    return sign_request


def make_client(base_url: str, settings: ServiceSettings) -> httpx.AsyncClient:
    """A client for one upstream instance; it carries the current request id and trace on every
    call, and the internal signature when a secret is configured."""
    hooks: list[Callable[[httpx.Request], Awaitable[None]]] = [_stamp_request_id]
    if settings.internal_secret:
        hooks.append(_signer(settings.internal_secret))
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
        # Shorter than the services' keep-alive (75 s), so a pooled connection is never reused
        # just as the server closes it.
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30),
        event_hooks={"request": hooks},
    )


def make_clients(setting: str, settings: ServiceSettings) -> list[httpx.AsyncClient]:
    return [make_client(url, settings) for url in base_urls(setting)]


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
        clients: httpx.AsyncClient | Sequence[httpx.AsyncClient],
        protection: Protection | None = None,
    ) -> None:
        self.name = name
        self.clients = [clients] if isinstance(clients, httpx.AsyncClient) else list(clients)
        self._turn = itertools.cycle(range(len(self.clients)))
        protection = protection or Protection()
        self.breakers = [protection.breaker(name, (httpx.TransportError,)) for _ in self.clients]
        self.bulkhead = protection.bulkhead(name)
        self._unwatch = metrics.watch_breakers(lambda: {self.name: self.breaker_states()})

    @classmethod
    def from_settings(cls, name: str, setting: str, settings: ServiceSettings) -> Upstream:
        """The instances `setting` names, guarded as `settings` says (breaker and concurrency bound)."""
        return cls(name, make_clients(setting, settings), Protection.from_settings(settings))

    @property
    def client(self) -> httpx.AsyncClient:
        return self.clients[0]

    def breaker_states(self) -> dict[str, State]:
        """Each instance's breaker state by base URL (for metrics)."""
        return {str(c.base_url): b.state for c, b in zip(self.clients, self.breakers, strict=True)}

    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
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

    async def _call(self, method: str, path: str, json: Any) -> httpx.Response:
        first = next(self._turn)
        shut: list[CircuitOpen] = []
        for i in range(len(self.clients)):
            k = (first + i) % len(self.clients)
            try:
                with self.breakers[k].attempt():
                    return await self.clients[k].request(method, path, json=json)
            except CircuitOpen as exc:
                shut.append(exc)
            except httpx.ConnectError:
                continue
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"The {self.name} service did not answer in time") from exc
            except httpx.TransportError as exc:
                raise ServiceUnavailable(f"The {self.name} service is unavailable") from exc
        if len(shut) == len(self.clients):
            raise min(shut, key=lambda exc: exc.retry_after)
        raise ServiceUnavailable(f"The {self.name} service is unavailable")

    async def ready(self) -> None:
        """Ready while at least one instance answers."""
        errors = []
        for client in self.clients:
            try:
                response = await client.get("/healthz", timeout=1.0)
                response.raise_for_status()
                return
            except httpx.HTTPError as exc:
                errors.append(f"{client.base_url}: {type(exc).__name__}")
        raise RuntimeError("; ".join(errors))

    async def aclose(self) -> None:
        self._unwatch()
        for client in self.clients:
            await client.aclose()
