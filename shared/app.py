"""The application factory every service and the gateway build on: envelope errors, request ids,
health routes, readiness checks, internal signatures and `/metrics`; and the one way a service
builds an upstream it calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Match

from shared import metrics
from shared.admission import AdmissionMiddleware, Bounds
from shared.errors import AppError, error_body, validation_details
from shared.internal import InternalAuthMiddleware
from shared.memo import Memo
from shared.middleware import RequestContextMiddleware

log = logging.getLogger("shared.app")

ReadinessCheck = Callable[[], Awaitable[Any]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_STATUS_MESSAGES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
}


def error_response(
    status: int,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    return Response(
        error_body(message, details, extra), status, headers=headers, media_type="application/json"
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    request.state.error = exc.message  # for the access log line
    return error_response(exc.status, exc.message, exc.details, exc.headers, exc.extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    request.state.error = "Invalid request"
    return error_response(400, "Invalid request", validation_details(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = 400 if exc.status_code == 422 else exc.status_code
    request.state.error = message = _STATUS_MESSAGES.get(status, "Request failed")
    headers = exc.headers
    if status == 405:  # Starlette names the methods of the first route on the path only
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(status, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app serves at the request's path (RFC 9110 §15.5.6)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


health = APIRouter(tags=["health"])


@health.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    ready: Memo[list[dict[str, str]]] = request.app.state.ready
    missing = await ready.get()
    if missing:
        return error_response(503, "Not ready", missing, {"Retry-After": "1"})
    return Response(b'{"status":"ready"}', media_type="application/json")


async def _probe(checks: Mapping[str, ReadinessCheck]) -> list[dict[str, str]]:
    """What is not ready, asking every check at once."""
    missing: list[dict[str, str]] = []

    async def probe(name: str, check: ReadinessCheck) -> None:
        try:
            await asyncio.wait_for(check(), timeout=2.0)
        except Exception as exc:
            missing.append({"component": name, "problem": str(exc) or type(exc).__name__})

    await asyncio.gather(*(probe(name, check) for name, check in checks.items()))
    return missing


class _Unset:
    """No internal secret was passed (None is a value: development, every call trusted)."""


_UNSET = _Unset()


def create_service_app(
    *,
    title: str,
    lifespan: Lifespan,
    routers: Sequence[APIRouter],
    middleware: Sequence[Middleware] = (),
    internal: bool = True,
    internal_secret: str | _Unset | None = _UNSET,
    admission: Bounds | None = None,
    ready_ttl: float = 0.0,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with the house conventions; the lifespan opens and closes what the caller built.

    `middleware` runs inside the request-id middleware, so it sees the request's id. An `internal`
    app (every service; not the gateway) answers only calls signed with `internal_secret`, which it
    must be given (None: development, open), so a service that forgets it fails to start.
    With `admission`, requests beyond its bounds are shed with 503 before anything else runs
    (shared/admission.py), inside the request-id middleware so each refusal is logged and counted.
    `ready_ttl` seconds /readyz answers what it found last (where the public can ask, so no crowd
    makes it ask every check on each call).
    """
    if internal and isinstance(internal_secret, _Unset):
        raise TypeError("an internal app needs internal_secret= (None: development, every call trusted)")
    # No redirect to add or drop a trailing slash: its Location would name this process's own
    # address, which behind the gateway is an internal host. Such a path is a 404 in the envelope.
    # FastAPI's own OpenTelemetry off: shared/tracing, shared/metrics and the access line are this
    # house's (one span, one histogram, one line a request). Left on, it asked for the global
    # providers on every request (~5% of the gateway's samples under GETs) and, given one, would
    # add a second server span to each request.
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        redirect_slashes=False,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        **fastapi_kwargs,
    )
    app.state.readiness = {}
    app.state.ready = Memo(lambda: _probe(app.state.readiness), ready_ttl)
    install_error_handlers(app)
    for item in reversed(middleware):
        app.add_middleware(item.cls, *item.args, **item.kwargs)
    if internal and not isinstance(internal_secret, _Unset):
        app.add_middleware(InternalAuthMiddleware, secret=internal_secret)
    if admission is not None:
        app.add_middleware(AdmissionMiddleware, bounds=admission)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health)
    app.include_router(metrics.router)
    for router in routers:
        app.include_router(router)
    return app
