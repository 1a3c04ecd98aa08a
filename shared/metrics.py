"""Prometheus metrics every process has: requests by route template, calls to upstreams, store
operations and circuit breaker states; and the `/metrics` route that serves them.

One uvicorn worker per process is the deployment unit (we scale by processes and replicas), so the
process's default registry is the whole truth and no multiprocess mode is needed. Label values are
bounded: routes are templates (never raw paths), methods a fixed set, outcomes a fixed set. Each
service's domain counters live in its own `metrics.py`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import Response

from shared.breaker import CircuitOpen, State
from shared.errors import UpstreamTimeout

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds, from 1 ms (a cached read) to 10 s (past every timeout).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by route template, method and status (errors: status 4xx and 5xx).",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template and method.",
    ["route", "method"],
    buckets=BUCKETS,
)
UPSTREAM_CALLS = Counter(
    "upstream_requests_total",
    "Calls to another service by outcome: 2xx/4xx/5xx answered; timeout, unavailable, circuit_open not.",
    ["upstream", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "upstream_request_duration_seconds",
    "Time a call to another service took, whatever its outcome.",
    ["upstream"],
    buckets=BUCKETS,
)
STORE_LATENCY = Histogram(
    "store_operation_duration_seconds",
    "Time a store operation took, by operation and backend (memory, json, redis).",
    ["operation", "backend"],
    buckets=STORE_BUCKETS,
)

GC_PAUSES = Histogram(
    "gc_pause_seconds",
    "Time each garbage collection stopped the process, by generation (a suspect in tail latency).",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)

# Labelled children are looked up once per label set: the hot path is a dict get, inc and observe.
_requests: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_upstream: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
_store: dict[tuple[str, str], Histogram] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    if method not in METHODS:
        method = "other"
    key = (route, method, status)
    children = _requests.get(key)
    if children is None:
        children = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
        _requests[key] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_upstream(upstream: str, outcome: str, seconds: float) -> None:
    children = _upstream.get((upstream, outcome))
    if children is None:
        children = (UPSTREAM_CALLS.labels(upstream, outcome), UPSTREAM_LATENCY.labels(upstream))
        _upstream[upstream, outcome] = children
    children[0].inc()
    children[1].observe(seconds)


def answered(status: int) -> str:
    """The outcome of a call the upstream answered: its status class."""
    return f"{status // 100}xx"


def failed(exc: BaseException) -> str:
    """The outcome of a call the upstream did not answer."""
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    return "unavailable"


class _Backend(Protocol):
    backend: str


S = TypeVar("S", bound=_Backend)
P = ParamSpec("P")
R = TypeVar("R")


Method = Callable[Concatenate[S, P], Coroutine[Any, Any, R]]


def timed(operation: str) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    """Decorates a store method: its duration goes to STORE_LATENCY under the store's `backend`."""

    def decorate(method: Method[S, P, R]) -> Method[S, P, R]:
        async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await method(self, *args, **kwargs)
            finally:
                child = _store.get((operation, self.backend))
                if child is None:
                    child = _store[operation, self.backend] = STORE_LATENCY.labels(operation, self.backend)
                child.observe(time.perf_counter() - started)

        return run

    return decorate


BreakerStates = Callable[[], Mapping[str, Mapping[str, State]]]  # upstream → instance → state
_STATE_VALUES: dict[State, float] = {"closed": 0, "half_open": 1, "open": 2}


class _Breakers:
    """Reads every watched breaker when scraped, so keeping the gauge costs the calls nothing."""

    def __init__(self) -> None:
        self.sources: list[BreakerStates] = []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "circuit_breaker_state",
            "Each upstream instance's circuit breaker: 0 closed, 1 half-open, 2 open.",
            labels=["upstream", "instance"],
        )
        for source in list(self.sources):
            for upstream, instances in source().items():
                for instance, state in instances.items():
                    family.add_metric([upstream, instance], _STATE_VALUES[state])
        yield family


_breakers = _Breakers()
REGISTRY.register(_breakers)


def watch_breakers(source: BreakerStates) -> Callable[[], None]:
    """Report `source`'s breakers from now on; call the function returned to stop."""
    _breakers.sources.append(source)
    return lambda: _breakers.sources.remove(source) if source in _breakers.sources else None


def watch_gc() -> Callable[[], None]:
    """Time every garbage collection into GC_PAUSES from now on; call the function returned to stop."""
    by_generation = [GC_PAUSES.labels(str(generation)) for generation in range(3)]
    started = 0.0

    def timing(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            by_generation[info["generation"]].observe(time.perf_counter() - started)

    gc.callbacks.append(timing)
    return lambda: gc.callbacks.remove(timing) if timing in gc.callbacks else None


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
