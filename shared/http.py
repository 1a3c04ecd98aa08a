"""Outbound HTTP, the one client of the gateway and the services: an upstream's instances taken
round robin, each behind a circuit breaker, the calls in flight bounded, transport errors mapped to
the contract's 503/504, and every call counted in the upstream metrics.

Two ways in, one failover loop: `Upstream.call` is a process's own JSON call (signed here), and
`Upstream.send` passes a request on as given and its answer back as it came (the gateway's proxy:
the path byte for byte, its own headers, the answer's raw bytes and headers, nothing decompressed).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from shared import internal, metrics, tracing
from shared.breaker import CircuitOpen, Protection, State
from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.errors import AppError, ServiceUnavailable, UpstreamTimeout
from shared.instances import (
    AiohttpInstance,
    Headers,
    HttpxInstance,
    Instance,
    Refused,
    TimedOut,
    TransportFailure,
    UpstreamResponse,
)
from shared.settings import ServiceSettings

__all__ = [
    "Instance",
    "Instances",
    "Upstream",
    "UpstreamResponse",
    "base_urls",
    "make_instances",
    "outbound_headers",
]

Instances = Instance | httpx.AsyncClient | Sequence[Instance | httpx.AsyncClient]


def base_urls(setting: str) -> list[str]:
    """A setting naming one base URL or several, comma-separated (one per instance)."""
    urls = [url.strip().rstrip("/") for url in setting.split(",") if url.strip()]
    if not urls:
        raise ValueError("no base URL given")
    return urls


def make_instances(setting: str, settings: ServiceSettings) -> list[Instance]:
    """One pooled instance per base URL the setting names; a pool holds as many connections as
    calls may be in flight (`max_concurrent_calls`), so the bound, not the pool, refuses a burst."""
    return [
        AiohttpInstance(
            url, settings.connect_timeout, settings.request_timeout, settings.max_concurrent_calls
        )
        for url in base_urls(setting)
    ]


def outbound_headers(method: str, path: str, secret: str | None, body: bytes = b"") -> dict[str, str]:
    """The headers every call between services carries: the current request id and trace, and the
    internal signature (of `path` with its query, and `body`) when a secret is configured. The one
    place they are built."""
    headers = {}
    request_id = request_id_var.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    traceparent = tracing.outgoing()  # this request's span, as the parent of the call
    if traceparent:
        headers[tracing.HEADER] = traceparent
    if secret:
        headers[internal.HEADER] = internal.sign(secret, method, path, body=body)
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
        instances: Instances,
        protection: Protection | None = None,
        *,
        secret: str | None = None,
    ) -> None:
        self.name = name
        self.secret = secret
        listed = list(instances) if isinstance(instances, Sequence) else [instances]
        if not listed:
            raise ValueError(f"no instance of {name} given")
        self.instances: list[Instance] = [
            HttpxInstance(i) if isinstance(i, httpx.AsyncClient) else i for i in listed
        ]
        self._turn = itertools.cycle(range(len(self.instances)))
        protection = protection or Protection()
        self.breakers = [protection.breaker(name, (TransportFailure,)) for _ in self.instances]
        self.bulkhead = protection.bulkhead(name)
        self._unwatch = metrics.watch_breakers(lambda: {self.name: self.breaker_states()})

    @classmethod
    def from_settings(cls, name: str, setting: str | Instances, settings: ServiceSettings) -> Upstream:
        """The instances `setting` names (or, in tests, the instances themselves), guarded as
        `settings` says (breaker and concurrency bound), signing with its internal secret."""
        instances = make_instances(setting, settings) if isinstance(setting, str) else setting
        return cls(name, instances, Protection.from_settings(settings), secret=settings.internal_secret)

    def breaker_states(self) -> dict[str, State]:
        """Each instance's breaker state by base URL (for metrics)."""
        return {i.base_url: b.state for i, b in zip(self.instances, self.breakers, strict=True)}

    async def call(self, method: str, path: str, json: Any = None) -> UpstreamResponse:
        """This process's own call: signed, with the request id and trace, a JSON body if given."""
        body = None if json is None else orjson.dumps(json)
        headers = outbound_headers(method, path, self.secret, body or b"")
        if body is not None:
            headers["content-type"] = "application/json"
        return await self.send(method, path, headers, body, decompress=True)

    async def send(
        self,
        method: str,
        path: str,
        headers: Headers,
        body: bytes | None,
        *,
        decompress: bool = False,
    ) -> UpstreamResponse:
        """A request as given (headers, path byte for byte), to the first instance that takes it:
        its answer as it came, or an AppError (503, CircuitOpen, 504). Counted in
        `upstream_requests_total` by outcome, and timed."""
        started = time.perf_counter()
        try:
            async with self.bulkhead.slot():
                first = next(self._turn)
                count = len(self.instances)
                shut: list[CircuitOpen] = []
                for i in range(count):
                    k = (first + i) % count
                    try:
                        with self.breakers[k].attempt():
                            answer = await self.instances[k].request(method, path, headers, body, decompress)
                        break
                    except CircuitOpen as exc:
                        shut.append(exc)
                    except Refused:
                        continue
                    except TimedOut as exc:
                        raise UpstreamTimeout(f"The {self.name} service did not answer in time") from exc
                    except TransportFailure as exc:
                        raise ServiceUnavailable(f"The {self.name} service is unavailable") from exc
                else:
                    if len(shut) == count:
                        raise min(shut, key=lambda e: e.retry_after)
                    raise ServiceUnavailable(f"The {self.name} service is unavailable")
        except AppError as exc:
            metrics.observe_upstream(self.name, metrics.failed(exc), time.perf_counter() - started)
            raise
        metrics.observe_upstream(
            self.name, metrics.answered(answer.status_code), time.perf_counter() - started
        )
        return answer

    async def ready(self) -> None:
        """Ready while at least one instance answers its health check. The error names instances by
        their place in the list, not their address: readiness answers may be public."""
        errors = []
        for n, instance in enumerate(self.instances, start=1):
            try:
                async with asyncio.timeout(1.0):
                    response = await instance.request("GET", "/healthz", {}, None, True)
            except TransportFailure as exc:
                errors.append(f"instance {n}: {type(exc.__cause__ or exc).__name__}")
                continue
            except TimeoutError:
                errors.append(f"instance {n}: TimeoutError")
                continue
            if response.status_code < 400:
                return
            errors.append(f"instance {n}: status {response.status_code}")
        raise RuntimeError("; ".join(errors))

    async def aclose(self) -> None:
        self._unwatch()
        for instance in self.instances:
            await instance.aclose()
