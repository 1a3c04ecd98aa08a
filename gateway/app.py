"""Builds the gateway: the forwarding middleware in front of a small FastAPI app (health, the API's
description and Swagger UI), and an upstream per service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from gateway.auth import TokenAuthenticator, authenticator_from
from gateway.guard import Guard
from gateway.openapi import ASSETS_URL, OriginalDocsRedirect, PublicSpec, api_version, router, swagger_assets
from gateway.proxy import ProxyMiddleware
from gateway.routes import Route
from gateway.settings import GatewaySettings
from shared.admission import Bounds
from shared.app import create_service_app
from shared.http import Instances, Upstream


def create_app(
    settings: GatewaySettings | None = None,
    *,
    inventory: Instances | None = None,
    sales: Instances | None = None,
    delivery: Instances | None = None,
) -> FastAPI:
    """The gateway; `inventory`, `sales` and `delivery` replace the instances the settings name
    (tests: an `httpx.AsyncClient` on a fake or an in-process app, an `Instance` or a list)."""
    settings = settings or GatewaySettings()
    routes = [
        Route("/api/books", _upstream("inventory", inventory, settings.inventory_url, settings)),
        Route("/api/orders", _upstream("sales", sales, settings.sales_url, settings)),
        Route("/api/deliveries", _upstream("delivery", delivery, settings.delivery_url, settings)),
    ]
    guard = Guard.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:  # closes what was opened, last first, even on failure
            resources.push_async_callback(guard.close)
            for route in routes:
                resources.push_async_callback(route.upstream.aclose)
                app.state.readiness[route.upstream.name] = route.upstream.ready
            yield

    proxy = Middleware(
        ProxyMiddleware,
        routes=routes,
        auth=_authenticator(settings),
        guard=guard,
        max_body_bytes=settings.max_body_bytes,
        internal_secret=settings.internal_secret,
    )
    # FastAPI's own docs would describe only the gateway's routes and load Swagger UI from a CDN.
    app = create_service_app(
        title="Bookstore API",
        lifespan=lifespan,
        routers=[router],
        middleware=[*_cors(settings), Middleware(OriginalDocsRedirect), proxy],
        internal=False,  # the public door: it signs what it forwards, it does not check signatures
        admission=Bounds.from_settings(settings),
        ready_ttl=settings.public_cache_seconds,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.spec = PublicSpec(routes, api_version(), retry_every=settings.public_cache_seconds)
    app.mount(ASSETS_URL, swagger_assets(), name="docs-assets")
    return app


def _cors(settings: GatewaySettings) -> list[Middleware]:
    """Browsers from the configured origins may call the API; none by default."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Total-Count", "Link", "Retry-After", "Idempotent-Replayed"],
        )
    ]


def _upstream(name: str, given: Instances | None, setting: str, settings: GatewaySettings) -> Upstream:
    return Upstream.from_settings(name, setting if given is None else given, settings)


def _authenticator(settings: GatewaySettings) -> TokenAuthenticator:
    return authenticator_from(
        tokens_file=settings.tokens_file,
        dev_token=settings.dev_token,
        jwt_secret=settings.jwt_secret,
        jwt_public_key=settings.jwt_public_key,
        jwt_audience=settings.jwt_audience,
        jwt_issuer=settings.jwt_issuer,
        jwt_roles_claim=settings.jwt_roles_claim,
    )
