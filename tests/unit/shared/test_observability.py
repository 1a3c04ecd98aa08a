"""Metrics, trace context and log fields, in-process: route templates as labels, /metrics open to
Prometheus, upstream calls and store operations counted, breakers read at scrape time, traceparent
kept. (Each service's domain metrics are tested in its own folder.)"""

from __future__ import annotations

import gc
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from shared import logs, metrics, tracing
from shared.app import create_service_app
from shared.context import request_id_var
from shared.http import Upstream, outbound_headers
from shared.logs import JsonFormatter, _ContextFilter
from shared.store import Tables
from shared.store.docs import TablesDocs
from tests.helpers import sample

ROOT = Path(__file__).resolve().parents[3]

router = APIRouter()


@router.get("/things/{thing_id}")
async def thing(thing_id: str) -> dict[str, str]:
    return {"id": thing_id}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def app_client(secret: str | None = None) -> httpx.AsyncClient:
    app = create_service_app(title="t", lifespan=lifespan, routers=[router], internal_secret=secret)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    labels = {"route": "/things/{thing_id}", "method": "GET", "status": "200"}
    before = sample("http_requests_total", **labels)
    timed = sample("http_request_duration_seconds_count", route="/things/{thing_id}", method="GET")
    unmatched = sample("http_requests_total", route="unmatched", method="GET", status="404")
    async with app_client() as client:
        for thing_id in ("1", "2", "3"):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404

    assert sample("http_requests_total", **labels) == before + 3
    assert (
        sample("http_request_duration_seconds_count", route="/things/{thing_id}", method="GET") == timed + 3
    )
    assert sample("http_requests_total", route="unmatched", method="GET", status="404") == unmatched + 1
    assert sample("http_requests_total", route="/things/1", method="GET", status="200") == 0


async def test_metrics_are_served_without_the_internal_signature() -> None:
    async with app_client(secret="s3cret") as client:
        assert (await client.get("/things/1")).status_code == 401
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "http_requests_total" in response.text


async def test_upstream_calls_are_counted_by_outcome_and_breakers_read_when_scraped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path == "/missing" else 200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://obs-unit")
    upstream = Upstream("obs-unit", client)
    ok = sample("upstream_requests_total", upstream="obs-unit", outcome="2xx")
    missing = sample("upstream_requests_total", upstream="obs-unit", outcome="4xx")

    await upstream.call("GET", "/found")
    await upstream.call("GET", "/missing")

    assert sample("upstream_requests_total", upstream="obs-unit", outcome="2xx") == ok + 1
    assert sample("upstream_requests_total", upstream="obs-unit", outcome="4xx") == missing + 1
    assert sample("circuit_breaker_state", upstream="obs-unit", instance="http://obs-unit") == 0
    await upstream.aclose()
    assert (
        REGISTRY.get_sample_value(
            "circuit_breaker_state", {"upstream": "obs-unit", "instance": "http://obs-unit"}
        )
        is None
    )


async def test_store_operations_are_timed_by_operation_and_backend() -> None:
    docs = TablesDocs(Tables())
    before = sample("store_operation_duration_seconds_count", operation="get", backend="memory")
    await docs.get("books", "1")
    await docs.get("books", "2")
    assert sample("store_operation_duration_seconds_count", operation="get", backend="memory") == before + 2


def test_only_a_valid_traceparent_is_adopted() -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    assert tracing.parse(f"00-{trace_id}-{span_id}-01") == (trace_id, span_id, "01")
    assert tracing.parse(f"01-{trace_id}-{span_id}-00-future") == (trace_id, span_id, "00")
    for bad in (
        None,
        "",
        f"00-{trace_id}-{span_id}-01-extra",  # version 00 has exactly four fields
        f"ff-{trace_id}-{span_id}-01",
        f"00-{'0' * 32}-{span_id}-01",
        f"00-{trace_id}-{'0' * 16}-01",
        f"00-{trace_id.upper()}-{span_id}-01",
        "garbage",
    ):
        assert tracing.parse(bad) is None, bad


def test_a_hop_continues_the_callers_trace_with_a_span_of_its_own() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    hop = tracing.begin(parent, "GET")
    assert hop.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert hop.span_id != "00f067aa0ba902b7" and len(hop.span_id) == 16
    assert tracing.parse(hop.traceparent) == (hop.trace_id, hop.span_id, "01")
    fresh = tracing.begin("nonsense", "GET")
    assert len(fresh.trace_id) == 32 and fresh.trace_id != hop.trace_id


def test_an_outbound_call_carries_the_trace_with_this_hop_as_parent() -> None:
    hop = tracing.begin(None, "GET")
    token = tracing.current.set(hop)
    try:
        headers = outbound_headers("GET", "/", None)
    finally:
        tracing.current.reset(token)
    assert headers["traceparent"] == f"00-{hop.trace_id}-{hop.span_id}-01"


def test_a_json_log_line_carries_the_trace_id() -> None:
    hop = tracing.begin(None, "GET")
    token = tracing.current.set(hop)
    try:
        record = logging.LogRecord("access", logging.INFO, "", 0, "request", None, None)
        _ContextFilter("svc").filter(record)
    finally:
        tracing.current.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["trace_id"] == hop.trace_id
    assert entry["service"] == "svc"


def test_the_access_line_written_as_bytes_is_the_line_logging_would_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, write_through=True))
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._writer
    fields = {"method": "GET", "path": "/things/1", "route": "/things/{thing_id}", "status": 200}
    hop = tracing.begin(None, "GET")
    tokens = tracing.current.set(hop), request_id_var.set("req-1")
    try:
        logs.configure_logging("svc", fmt="json")
        logs.access_line(fields)  # straight to bytes
        logs.access_log.info("request", extra=fields)  # through logging's record and formatter
        root.addHandler(logging.NullHandler())  # a capture added later: back through logging
        logs.access_line({**fields, "status": 404})
    finally:
        tracing.current.reset(tokens[0])
        request_id_var.reset(tokens[1])
        root.handlers[:], logs._writer = saved[0], saved[2]
        root.setLevel(saved[1])
    fast, slow, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert fast.pop("time")[:10] == slow.pop("time")[:10]
    assert list(fast.items()) == list(slow.items())  # the same keys, in the same order
    assert fast["request_id"] == "req-1" and fast["trace_id"] == hop.trace_id
    assert after["status"] == 404


def test_every_garbage_collection_is_timed_by_generation_once_watched() -> None:
    before = sample("gc_pause_seconds_count", generation="2")
    stop = metrics.watch_gc()
    try:
        gc.collect(2)
        gc.collect(2)
    finally:
        stop()
    gc.collect(2)  # no longer watched

    assert sample("gc_pause_seconds_count", generation="2") == before + 2
    assert sample("gc_pause_seconds_sum", generation="2") > 0


# Run in a process of its own: a global tracer provider can be set once per process.
_GLOBAL_PROVIDER = """
import asyncio
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.app import create_service_app

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
router = APIRouter()


@router.get("/thing")
async def thing() -> dict[str, str]:
    return {"ok": "yes"}


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield


async def main() -> None:
    app = create_service_app(title="t", lifespan=lifespan, routers=[router], internal_secret=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/thing")).status_code == 200
    plain = FastAPI()
    plain.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://t") as client:
        assert (await client.get("/thing")).status_code == 200
    print(len([s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]))


asyncio.run(main())
"""


def test_fastapis_own_telemetry_adds_no_second_span_even_with_a_global_provider() -> None:
    """The house's spans are shared/tracing's; an agent or library that sets a global tracer
    provider must not make FastAPI add a server span of its own to every request (nor ask for
    the providers on every request, which cost ~5% of the gateway)."""
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER], capture_output=True, text=True, timeout=60, cwd=ROOT
    )

    assert done.returncode == 0, done.stderr
    # the plain FastAPI app's request made one (the probe works); the house app's made none
    assert done.stdout.split() == ["1"]
