"""Builds the gateway: the forwarding middleware in front of a small FastAPI app (health, docs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from gateway.auth import authenticator_from
from gateway.guard import Guard
from gateway.openapi import ASSETS_URL, PublicDocs, api_version, router, swagger_assets
from gateway.proxy import ProxyMiddleware
from gateway.settings import GatewaySettings
from gateway.upstreams import Route, Upstreams
from shared.app import create_service_app
from shared.http import base_urls


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    routes = [
        Route("/api/books", "inventory", tuple(base_urls(settings.inventory_url))),
        Route("/api/orders", "sales", tuple(base_urls(settings.sales_url))),
        Route("/api/deliveries", "delivery", tuple(base_urls(settings.delivery_url))),
    ]
    upstreams = Upstreams.from_settings(settings)
    auth = authenticator_from(
        tokens_file=settings.tokens_file,
        dev_token=settings.dev_token,
        jwt_secret=settings.jwt_secret,
        jwt_public_key=settings.jwt_public_key,
        jwt_audience=settings.jwt_audience,
        jwt_issuer=settings.jwt_issuer,
        jwt_roles_claim=settings.jwt_roles_claim,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upstreams.open()
        for route in routes:
            app.state.readiness[route.service] = lambda route=route: upstreams.ping(route)
        try:
            yield
        finally:
            await upstreams.close()
            await guard.close()

    guard = Guard.from_settings(
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        failures_per_second=settings.auth_failures_per_second,
        failures_burst=settings.auth_failures_burst,
        redis_url=settings.rate_limit_redis_url,
        trusted_proxies=settings.trusted_proxies,
    )
    proxy = Middleware(
        ProxyMiddleware,
        routes=routes,
        upstreams=upstreams,
        auth=auth,
        guard=guard,
        max_body_bytes=settings.max_body_bytes,
        internal_secret=settings.internal_secret,
    )
    cors = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                expose_headers=[
                    "X-Request-ID",
                    "X-Total-Count",
                    "Link",
                    "Retry-After",
                    "Idempotent-Replayed",
                ],
            )
        ]
        if settings.cors_origins
        else []
    )
    # FastAPI's own docs would describe only the gateway's routes and load Swagger UI from a CDN.
    app = create_service_app(
        title="Bookstore API",
        lifespan=lifespan,
        routers=[router],
        middleware=[*cors, proxy],
        internal=False,  # the public door: it signs what it forwards, it does not check signatures
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.docs = PublicDocs(routes, upstreams, api_version(), settings.internal_secret)
    app.mount(ASSETS_URL, swagger_assets(), name="docs-assets")
    return app
