"""Pure ASGI middleware that gives every request its id, its place in a trace, one access log line
and its metrics, and answers any unhandled error with the envelope (so even a 500 carries the
request id and no stack trace)."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics, tracing
from shared.asgi import reply_error
from shared.context import REQUEST_ID_HEADER, request_id_var, sane_request_id
from shared.logs import access_line

log = logging.getLogger("shared.middleware")
_HEADER = REQUEST_ID_HEADER.encode()
_NOSNIFF = (b"x-content-type-options", b"nosniff")  # JSON is never to be sniffed into HTML
_OURS = {_HEADER, _NOSNIFF[0]}
_TRACEPARENT = tracing.HEADER.encode()


def route_of(scope: Scope) -> str:
    """The route template the request matched (Starlette's, or one the gateway's proxy set), never
    the raw path: ids would make a label value, and a time series, of every path."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", metrics.UNMATCHED))
    return str(scope.get("route_template", metrics.UNMATCHED))


class RequestContextMiddleware:
    """Adopts the caller's sane `X-Request-ID` (or makes one) and its trace, echoes the id, logs the
    outcome and counts it (`shared.metrics`) by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = parent = None
        for key, value in scope["headers"]:
            if key == _HEADER:
                incoming = value
            elif key == _TRACEPARENT:
                parent = value
        request_id = sane_request_id(incoming.decode("latin-1") if incoming else None)
        token = request_id_var.set(request_id)
        method = scope["method"]
        hop = tracing.begin(parent.decode("latin-1") if parent else None, method)
        trace_token = tracing.current.set(hop)
        state = scope.setdefault("state", {})  # where handlers leave `error` and `subject` for the log
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = [(k, v) for k, v in message.get("headers", []) if k not in _OURS]
                headers += [(_HEADER, request_id.encode()), _NOSNIFF]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.exception("unhandled error", extra={"path": scope["path"]})
            state["error"] = f"{type(exc).__name__}: {exc}"
            if responded:
                raise
            await reply_error(send_with_id, 500, "Internal server error")
        finally:
            _account(scope, state, status, time.perf_counter() - started, hop)
            tracing.current.reset(trace_token)
            request_id_var.reset(token)


def _account(scope: Scope, state: dict[str, Any], status: int, elapsed: float, hop: tracing.Hop) -> None:
    """Count, trace and log one answered request by its route template."""
    method, route = scope["method"], route_of(scope)
    metrics.observe_request(route, method, status, elapsed)
    tracing.end(hop, method, route, status)
    fields = {
        "method": method,
        "path": scope["path"],
        "route": route,
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
        "subject": state.get("subject"),
    }
    if "error" in state:
        fields["error"] = state["error"]
    access_line(fields)
