"""Trust between the bookstore's own processes: every call from the gateway or a service carries an
HMAC, under a shared secret, over the method, the path, the principal and the time. A service
refuses (401) any request without a valid one, so nobody can reach it around the gateway or claim
another principal; health checks stay open for load balancers, and `/metrics` for Prometheus (the
networks are internal, and the public proxy does not route it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.asgi import reply_error
from shared.principal import ROLES_HEADER, SUBJECT_HEADER

log = logging.getLogger("shared.internal")

HEADER = "x-internal-signature"
WINDOW_SECONDS = 60  # clock skew and queueing a signature survives; replays are bound to the same call
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _mac(secret: str, stamp: int, method: str, path: str, subject: str, roles: str) -> str:
    message = f"{stamp}\n{method.upper()}\n{path}\n{subject}\n{roles}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(
    secret: str, method: str, path: str, subject: str = "", roles: str = "", now: float | None = None
) -> str:
    """The header value for one call; `path` is the raw path without the query string."""
    stamp = int(time.time() if now is None else now)
    return f"t={stamp},s={_mac(secret, stamp, method, path, subject, roles)}"


def verify(
    secret: str, value: str, method: str, path: str, subject: str, roles: str, now: float | None = None
) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in value.split(","))
        stamp = int(parts["t"])
        signature = parts["s"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - stamp) > WINDOW_SECONDS:
        return False
    return hmac.compare_digest(signature, _mac(secret, stamp, method, path, subject, roles))


class InternalAuthMiddleware:
    """401 for any request (but health checks and metrics) without a valid signature under `secret`.

    `secret` is required: None (development, every call trusted) has to be said, so a service that
    forgets to wire its secret fails to start instead of running open."""

    def __init__(self, app: ASGIApp, *, secret: str | None) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secret = self.secret
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or not secret:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if not verify(
            secret,
            headers.get(HEADER, ""),
            scope["method"],
            path,
            headers.get(SUBJECT_HEADER, ""),
            headers.get(ROLES_HEADER, ""),
        ):
            await reply_error(send, 401, "Unauthorized", [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)
