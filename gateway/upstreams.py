"""Where the gateway forwards to: the public path prefixes (`Route`) and the pooled aiohttp session
to every service instance behind them (`Upstreams`), with a breaker per instance."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from shared import metrics
from shared.breaker import Breaker, Bulkhead, CircuitOpen, Protection, State
from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.settings import ServiceSettings

# Sub-resources kept in route templates; any other path below an id is one label, so no client can
# make a time series per path.
_ACTIONS = frozenset({"stock", "cancel"})


@dataclass(frozen=True)
class Route:
    """A public path prefix and the instances of the service that serves it, taken in turn."""

    prefix: str
    service: str
    base_urls: tuple[str, ...]
    _turn: Iterator[int] = field(default_factory=itertools.count, compare=False, repr=False)

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def template(self, path: str) -> str:
        """The route label of `path`: ids replaced, e.g. `/api/orders/{id}/cancel`."""
        rest = path[len(self.prefix) + 1 :]
        if not rest:
            return self.prefix
        _, _, tail = rest.partition("/")
        if not tail:
            return self.prefix + "/{id}"
        return f"{self.prefix}/{{id}}/{tail if tail in _ACTIONS else '*'}"

    def instances(self) -> list[str]:
        """Every instance, starting with the one whose turn it is (round robin)."""
        first = next(self._turn) % len(self.base_urls)
        return [*self.base_urls[first:], *self.base_urls[:first]]


class Upstreams:
    """The pooled HTTP session to every service; opened in the lifespan, never at import.

    Each instance has its own circuit breaker and each service a bound on calls in flight, as in
    `shared.http.Upstream` (see there why per instance). Only transport failures and timeouts count:
    whatever a service answers, a 503 included, is forwarded as its answer.
    """

    def __init__(
        self, connect_timeout: float, request_timeout: float, protection: Protection | None = None
    ) -> None:
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self.protection = protection or Protection()
        self._breakers: dict[tuple[str, str], Breaker] = {}
        self._bulkheads: dict[str, Bulkhead] = {}
        self._session: aiohttp.ClientSession | None = None
        self._unwatch: Callable[[], None] = lambda: None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Upstreams:
        return cls(settings.connect_timeout, settings.request_timeout, Protection.from_settings(settings))

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "upstreams are not open"
        return self._session

    def breaker(self, route: Route, base_url: str) -> Breaker:
        key = (route.service, base_url)
        if key not in self._breakers:
            self._breakers[key] = self.protection.breaker(route.service, (aiohttp.ClientError, TimeoutError))
        return self._breakers[key]

    def bulkhead(self, route: Route) -> Bulkhead:
        if route.service not in self._bulkheads:
            self._bulkheads[route.service] = self.protection.bulkhead(route.service)
        return self._bulkheads[route.service]

    def breaker_states(self) -> dict[str, dict[str, State]]:
        """Each instance's breaker state, by service and base URL (for metrics)."""
        states: dict[str, dict[str, State]] = {}
        for (service, base_url), breaker in self._breakers.items():
            states.setdefault(service, {})[base_url] = breaker.state
        return states

    async def send(
        self, route: Route, method: str, target: str, headers: CIMultiDict[str], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw headers and body from the first instance that takes the request, or an AppError:
        503 when none does (CircuitOpen when every breaker is open), 504 on a timeout."""
        async with self.bulkhead(route).slot():
            shut: list[CircuitOpen] = []
            for base_url in route.instances():
                # encoded=True: forward the path byte for byte; parsing would resolve `..` segments.
                url = URL(base_url + target, encoded=True)
                try:
                    with self.breaker(route, base_url).attempt():
                        async with self.session.request(
                            method, url, headers=headers, data=body or None, allow_redirects=False
                        ) as response:
                            # raw_headers: the service's bytes exactly, never re-encoded.
                            return response.status, list(response.raw_headers), await response.read()
                except CircuitOpen as exc:
                    shut.append(exc)
                except aiohttp.ClientConnectorError:
                    continue  # refused: the request never reached this instance, so the next may take it
                except TimeoutError as exc:
                    raise UpstreamTimeout(f"The {route.service} service did not answer in time") from exc
                except aiohttp.ClientError as exc:
                    raise ServiceUnavailable(f"The {route.service} service is unavailable") from exc
            if shut and len(shut) == len(route.base_urls):
                raise min(shut, key=lambda exc: exc.retry_after)
            raise ServiceUnavailable(f"The {route.service} service is unavailable")

    async def open(self) -> None:
        self._unwatch = metrics.watch_breakers(self.breaker_states)
        # keepalive shorter than the services' 75 s, so a pooled socket is never reused as it closes.
        # No DNS cache: a restarted container has a new address (compose), and a cached one would
        # time out every new connection for aiohttp's 10 s; sockets are pooled, so lookups are rare.
        connector = aiohttp.TCPConnector(
            limit=512, limit_per_host=256, keepalive_timeout=30, use_dns_cache=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        self._unwatch()
        if self._session is not None:
            await self._session.close()

    async def ping(self, route: Route) -> None:
        """Ready while one instance of the route's service answers."""
        problems = []
        for base_url in route.base_urls:
            try:
                async with self.session.get(
                    base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)
                ) as r:
                    r.raise_for_status()
                    return
            except (aiohttp.ClientError, TimeoutError) as exc:
                problems.append(f"{base_url}: {type(exc).__name__}")
        raise RuntimeError("; ".join(problems))
