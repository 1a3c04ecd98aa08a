"""Pure ASGI middleware that gives every request its id and one access log line, and answers any
unhandled error with the envelope (so even a 500 carries the request id and no stack trace)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import REQUEST_ID_HEADER, request_id_var, sane_request_id
from shared.errors import error_body

access_log = logging.getLogger("access")
log = logging.getLogger("shared.middleware")
_HEADER = REQUEST_ID_HEADER.encode()
_NOSNIFF = (b"x-content-type-options", b"nosniff")  # JSON is never to be sniffed into HTML
_OURS = {_HEADER, _NOSNIFF[0]}


class RequestContextMiddleware:
    """Adopts the caller's sane `X-Request-ID` (or makes one), echoes it, and logs the outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == _HEADER), None)
        request_id = sane_request_id(incoming.decode("latin-1") if incoming else None)
        token = request_id_var.set(request_id)
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
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if responded:
                raise
            body = error_body("Internal server error")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send_with_id({"type": "http.response.start", "status": 500, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": getattr(route, "path", None),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "subject": scope.get("state", {}).get("subject"),
                },
            )
            request_id_var.reset(token)
