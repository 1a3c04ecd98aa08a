"""The forwarding path: pure ASGI, no routing framework, each service's upstream (`shared.http`).

Every `/api` request is authenticated first (401 before anything else), then forwarded unchanged
to the service that owns its path prefix, with the request id, the trace context and the principal
in headers. Requests are counted by route template (`Route.template`); the upstream counts its calls.
"""

from __future__ import annotations

import logging
import math
import re

from multidict import CIMultiDict
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import ratelimit
from gateway.auth import TokenAuthenticator
from gateway.guard import Guard
from gateway.routes import Route
from shared import internal, metrics, tracing
from shared.asgi import read_body, reply, reply_error
from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.errors import AppError
from shared.principal import ROLES_HEADER, SUBJECT_HEADER, TRUSTED_PREFIXES, Principal

log = logging.getLogger("gateway.proxy")
# One line per state-changing request, with who did it: catalog and stock changes, deletes,
# delivery moves and cancellations among them. Never a token or an Authorization header.
audit = logging.getLogger("audit")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself.
_DROP_REQUEST = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "expect",
    REQUEST_ID_HEADER,
    tracing.HEADER,  # replaced by ours: the same trace, with this hop's span as the parent
}
_DROP_RESPONSE = {
    name.encode()
    for name in (
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        "server",
        REQUEST_ID_HEADER,
    )
}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class ProxyMiddleware:
    """Serves `/api...` by forwarding; everything else goes on to the FastAPI app (health, docs)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[Route],
        auth: TokenAuthenticator,
        guard: Guard,
        max_body_bytes: int,
        internal_secret: str | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.auth = auth
        self.guard = guard
        self.max_body_bytes = max_body_bytes
        self.internal_secret = internal_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/api" or path.startswith("/api/")):
            await self.app(scope, receive, send)
            return
        route = next((r for r in self.routes if r.matches(path)), None)
        scope["route_template"] = route.template(path) if route is not None else metrics.UNMATCHED
        state = scope.setdefault("state", {})
        too_big = _oversized(scope)
        if too_big is not None:
            await _refuse(scope, send, *too_big)
            return
        address = self.guard.client_address(scope)
        wait = self.guard.blocked_for(address)
        if wait > 0:
            await _too_many(scope, send, math.ceil(wait), "Too many failed authentications")
            return
        raw_auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        principal = self.auth.authenticate(raw_auth.decode("latin-1"))
        if principal is None:
            failure = await self.guard.failed(address)
            if not failure.allowed:
                wait = math.ceil(failure.retry_after)
                await _too_many(scope, send, wait, "Too many failed authentications")
                return
            await _refuse(scope, send, 401, "Unauthorized", [(b"www-authenticate", b"Bearer")])
            return
        state["subject"] = principal.subject
        decision = await self.guard.take(principal.subject)
        limits = ratelimit.headers(decision) if decision is not None else []
        if decision is not None and not decision.allowed:
            await _refuse(scope, send, 429, "Too many requests", limits)
            return
        if route is None or _has_dot_segment(path):
            await _refuse(scope, send, 404, "Not found")
            return
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            await _refuse(scope, send, 413, "Request body too large")
            return
        headers = _outbound_headers(scope, principal)
        if headers is None:
            await _refuse(scope, send, 400, "Request headers must be UTF-8 without control characters")
            return
        if self.internal_secret:
            principal_headers = principal.headers()
            headers[internal.HEADER] = internal.sign(
                self.internal_secret,
                scope["method"],
                scope["raw_path"].decode("latin-1"),
                principal_headers[SUBJECT_HEADER],
                principal_headers[ROLES_HEADER],
            )
        status = await self._forward(scope, send, route, headers, body, limits)
        if scope["method"] not in _READS:
            audit.info(
                "privileged action" if principal.has_role("staff") else "action",
                extra={
                    "subject": principal.subject,
                    "roles": sorted(principal.roles),
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                },
            )

    async def _forward(
        self,
        scope: Scope,
        send: Send,
        route: Route,
        headers: CIMultiDict[str],
        body: bytes,
        limits: list[tuple[bytes, bytes]],
    ) -> int:
        """Forward to the first instance that takes the request; the status answered."""
        upstream = route.upstream
        target = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        try:
            answer = await upstream.send(scope["method"], target, headers, body or None)
        except AppError as exc:
            cause = repr(exc.__cause__) if exc.__cause__ else exc.message
            log.warning(
                "upstream failed", extra={"upstream": upstream.name, "status": exc.status, "error": cause}
            )
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
            scope["state"]["error"] = cause
            await reply_error(send, exc.status, exc.message, extra)
            return exc.status
        out = [(k, v) for k, v in answer.raw_headers if k.lower() not in _DROP_RESPONSE]
        out += limits
        await reply(send, answer.status_code, answer.content, out, content_type=None)
        return answer.status_code


def _outbound_headers(scope: Scope, principal: Principal) -> CIMultiDict[str] | None:
    """The client's end-to-end headers plus ours; None if one cannot be sent on unchanged.

    aiohttp writes header values as UTF-8 and refuses control characters, so only such values
    arrive at the service byte for byte. Headers named in `Connection` are hop-by-hop too.
    """
    try:
        incoming = [(k.decode("latin-1").lower(), v.decode("utf-8")) for k, v in scope["headers"]]
    except UnicodeDecodeError:
        return None
    if any(_CONTROL.search(v) for _, v in incoming):
        return None
    hop = _DROP_REQUEST | {
        token.strip().lower() for k, v in incoming if k == "connection" for token in v.split(",")
    }
    forward = CIMultiDict((k, v) for k, v in incoming if k not in hop and not k.startswith(TRUSTED_PREFIXES))
    forward.update(principal.headers())
    forward[REQUEST_ID_HEADER] = request_id_var.get() or ""
    traceparent = tracing.outgoing()
    if traceparent:
        forward[tracing.HEADER] = traceparent
    client = scope.get("client")
    if client:
        prior = next((v for k, v in incoming if k == "x-forwarded-for"), None)
        forward["x-forwarded-for"] = f"{prior}, {client[0]}" if prior else client[0]
    return forward


MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 16384


def _oversized(scope: Scope) -> tuple[int, str] | None:
    """414 or 431 for what no service should be asked to parse (nginx's defaults, in the envelope)."""
    if len(scope["raw_path"]) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
        return 414, "URL too long"
    if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEADER_BYTES:
        return 431, "Request headers too large"
    return None


def _has_dot_segment(path: str) -> bool:
    """`.` or `..` in the (decoded) path: never forwarded, so no path can climb out of its service."""
    return any(segment in (".", "..") for segment in path.split("/"))


async def _too_many(scope: Scope, send: Send, retry_after: int, message: str) -> None:
    await _refuse(scope, send, 429, message, [(b"retry-after", str(max(retry_after, 1)).encode())])


async def _refuse(
    scope: Scope, send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """The gateway's own error answer; the message also goes to the request's access log line."""
    scope["state"]["error"] = message
    await reply_error(send, status, message, headers or ())
