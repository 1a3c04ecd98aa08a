"""W3C trace context on every hop, and OpenTelemetry spans over OTLP when an endpoint is configured.

Always (and nearly free): a request adopts a valid incoming `traceparent` or starts a trace, gets a
span id of its own, and every call it makes carries `traceparent` with that span as the parent; the
trace id is in each of its log lines. Only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set does
`configure` load the OpenTelemetry SDK; then every request is also a server span, exported in
batches over OTLP/HTTP (the SDK's own `OTEL_*` variables tune it).
"""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

HEADER = "traceparent"
_PARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class Hop:
    """This process's part of a trace: the trace, its own span, the sampling flags and, when
    exporting, the SDK's span."""

    trace_id: str
    span_id: str
    flags: str
    span: Any = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


current: ContextVar[Hop | None] = ContextVar("trace_hop", default=None)


def parse(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid `traceparent`, else None (start a new trace)."""
    match = _PARENT.fullmatch(value) if value else None
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, flags


def _new_id(bits: int) -> str:
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


class _Exporter:
    """The SDK's tracer; imported and built only when spans are to be exported."""

    def __init__(self, service: str) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # Flushed and shut down at exit by the provider itself (atexit), after uvicorn's graceful stop.
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.provider = provider
        self.tracer = provider.get_tracer("bookstore")
        self.api = trace

    def begin(self, parent: tuple[str, str, str] | None, method: str) -> Hop:
        api = self.api
        context = None
        if parent is not None:
            flags = api.TraceFlags(int(parent[2], 16))
            trace_id, span_id = int(parent[0], 16), int(parent[1], 16)
            remote = api.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
            context = api.set_span_in_context(api.NonRecordingSpan(remote))
        span = self.tracer.start_span(method, context=context, kind=api.SpanKind.SERVER)
        ctx = span.get_span_context()
        return Hop(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", f"{ctx.trace_flags:02x}", span)

    def end(self, hop: Hop, method: str, route: str, status: int) -> None:
        span = hop.span
        span.update_name(f"{method} {route}")
        span.set_attributes(
            {"http.request.method": method, "http.route": route, "http.response.status_code": status}
        )
        if status >= 500:
            span.set_status(self.api.Status(self.api.StatusCode.ERROR))
        span.end()


_exporter: _Exporter | None = None


def configure(service: str) -> bool:
    """Export spans when OTEL_EXPORTER_OTLP_ENDPOINT is set (once per process); whether it does."""
    global _exporter
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and _exporter is None:
        _exporter = _Exporter(service)
    return _exporter is not None


def begin(traceparent: str | None, method: str) -> Hop:
    """This request's hop: a child of a valid incoming `traceparent`, else the root of a new trace."""
    parent = parse(traceparent)
    if _exporter is not None:
        return _exporter.begin(parent, method)
    if parent is None:
        return Hop(_new_id(128), _new_id(64), "01")
    return Hop(parent[0], _new_id(64), parent[2])


def end(hop: Hop, method: str, route: str, status: int) -> None:
    if hop.span is not None and _exporter is not None:
        _exporter.end(hop, method, route, status)


def outgoing() -> str | None:
    """The `traceparent` for a call made now, from the current request."""
    hop = current.get()
    return hop.traceparent if hop is not None else None
