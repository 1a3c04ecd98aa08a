"""The forwarding path: pure ASGI, no routing framework, each service's upstream (`shared.http`).

Every `/api` request is authenticated first (401 before anything else), then forwarded unchanged
to the service that owns its path prefix, with the request id, the trace context and the principal
in headers. Requests are counted by route template (`Route.template`); the upstream counts its calls.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from multidict import CIMultiDict
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import headers, ratelimit
from gateway.auth import TokenAuthenticator
from gateway.guard import Guard
from gateway.routes import Route
from shared import metrics
from shared.asgi import Disconnected, Headers, read_body, reply, reply_error
from shared.errors import AppError
from shared.principal import Principal

log = logging.getLogger("gateway.proxy")
# One line per state-changing request, with who did it: catalog and stock changes, deletes,
# delivery moves and cancellations among them. Never a token or an Authorization header.
audit = logging.getLogger("audit")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 16384


@dataclass(frozen=True, slots=True)
class Refusal:
    """The gateway's own error answer; the message also goes to the request's access log line."""

    status: int
    message: str
    headers: Headers = ()


UNAUTHORIZED = Refusal(401, "Unauthorized", ((b"www-authenticate", b"Bearer"),))
NOT_FOUND = Refusal(404, "Not found")
TOO_LARGE = Refusal(413, "Request body too large")
INCOMPLETE = Refusal(400, "Request body incomplete: the client went away")  # never forwarded
BAD_HEADERS = Refusal(400, "Request headers must be UTF-8 without control characters")


@dataclass(slots=True)  # not frozen: built on every request, and a frozen init costs four times as much
class Admitted:
    """A request that passed every check, ready to forward."""

    route: Route
    principal: Principal
    headers: CIMultiDict[str]
    body: bytes
    limits: Headers  # the rate limit's headers, for the answer


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
        scope.setdefault("state", {})
        admitted = await self._admit(scope, receive, route)
        if isinstance(admitted, Refusal):
            scope["state"]["error"] = admitted.message
            await reply_error(send, admitted.status, admitted.message, admitted.headers)
            return
        status = await self._forward(scope, send, admitted)
        if scope["method"] not in _READS:
            _audit(scope, admitted.principal, status)

    async def _admit(self, scope: Scope, receive: Receive, route: Route | None) -> Admitted | Refusal:
        """The request ready to forward, or why not, checked in this order: what no service should
        parse, the brake on guessing, the token (401 before anything else about the request), the
        rate limit, the path, the body, the headers."""
        principal = _oversized(scope) or await self._authenticate(scope)
        if isinstance(principal, Refusal):
            return principal
        scope["state"]["subject"] = principal.subject
        decision = await self.guard.take(principal.subject)
        limits = ratelimit.headers(decision) if decision is not None else ()
        if decision is not None and not decision.allowed:
            return Refusal(429, "Too many requests", limits)
        if route is None or _has_dot_segment(scope["path"]):
            return NOT_FOUND
        try:
            body = await read_body(receive, self.max_body_bytes)
        except Disconnected:
            return INCOMPLETE
        if body is None:
            return TOO_LARGE
        forward = headers.outbound(scope, principal, self.internal_secret, body)
        if forward is None:
            return BAD_HEADERS
        return Admitted(route, principal, forward, body, limits)

    async def _authenticate(self, scope: Scope) -> Principal | Refusal:
        """The caller, unless its address is braked for guessing or its token is no good (401, or 429
        once its failures pass the brake)."""
        address = self.guard.client_key(scope)
        wait = self.guard.blocked_for(address)
        if wait > 0:
            return _guessing(wait)
        raw_auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        principal = self.auth.authenticate(raw_auth.decode("latin-1"))
        if principal is not None:
            return principal
        failure = await self.guard.failed(address)
        return UNAUTHORIZED if failure.allowed else _guessing(failure.retry_after)

    async def _forward(self, scope: Scope, send: Send, admitted: Admitted) -> int:
        """Forward to the first instance that takes the request; the status answered."""
        upstream = admitted.route.upstream
        target = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        try:
            answer = await upstream.send(scope["method"], target, admitted.headers, admitted.body or None)
        except AppError as exc:
            cause = repr(exc.__cause__) if exc.__cause__ else exc.message
            log.warning(
                "upstream failed", extra={"upstream": upstream.name, "status": exc.status, "error": cause}
            )
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
            scope["state"]["error"] = cause
            await reply_error(send, exc.status, exc.message, extra)
            return exc.status
        out = headers.inbound(answer.raw_headers, admitted.limits)
        await reply(send, answer.status_code, answer.content, out, content_type=None)
        return answer.status_code


def _oversized(scope: Scope) -> Refusal | None:
    """414 or 431 for what no service should be asked to parse (nginx's defaults, in the envelope)."""
    if len(scope["raw_path"]) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
        return Refusal(414, "URL too long")
    if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEADER_BYTES:
        return Refusal(431, "Request headers too large")
    return None


def _guessing(wait: float) -> Refusal:
    retry_after = str(max(math.ceil(wait), 1)).encode()
    return Refusal(429, "Too many failed authentications", [(b"retry-after", retry_after)])


def _has_dot_segment(path: str) -> bool:
    """`.` or `..` in the (decoded) path: never forwarded, so no path can climb out of its service."""
    return any(segment in (".", "..") for segment in path.split("/"))


def _audit(scope: Scope, principal: Principal, status: int) -> None:
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
