"""Builds the delivery app: opens the store and the client for sales, registers their readiness, and
keeps Idempotency-Key records for POST /api/deliveries in the same store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from delivery_service import services
from delivery_service.clients import SalesClient
from delivery_service.routes import deliveries
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore, DocDeliveryStore
from shared.app import create_service_app
from shared.breaker import Protection
from shared.http import Upstream, make_clients
from shared.idempotency import DocsIdempotencyStore, IdempotencyMiddleware
from shared.store import Tables
from shared.store.docs import TablesDocs, make_docs
from shared.tasks import periodic


def create_app(
    settings: DeliverySettings | None = None,
    store: DeliveryStore | None = None,
    sales: httpx.AsyncClient | None = None,
) -> FastAPI:
    """The delivery app; `store` and `sales` (a client whose base URL is sales) replace the real ones."""
    settings = settings or DeliverySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:  # closes what was opened, last first, even on failure
            # An injected store keeps its own data; its idempotency keys get fresh tables.
            docs = make_docs(settings, "delivery") if store is None else TablesDocs(Tables())
            app.state.store = the_store = store or DocDeliveryStore(docs)
            await the_store.open()
            resources.push_async_callback(the_store.close)
            app.state.idempotency = idempotency = DocsIdempotencyStore(docs)
            protection = Protection.from_settings(settings)
            upstream = Upstream(
                "sales",
                sales or make_clients(settings.sales_url, settings),
                protection,
                secret=settings.internal_secret,
            )
            resources.push_async_callback(upstream.aclose)
            app.state.sales = SalesClient(upstream)
            app.state.readiness |= {"store": the_store.ping, "sales": upstream.ready}

            async def purge() -> None:
                await idempotency.purge(time.time() - settings.idempotency_ttl_hours * 3600)

            async def finish_moves() -> None:
                await services.finish_moves(
                    the_store,
                    app.state.sales,
                    claim_seconds=settings.move_claim_seconds,
                    grace=timedelta(seconds=settings.move_retry_grace_seconds),
                )

            await resources.enter_async_context(periodic("purge-idempotency-keys", 3600, purge))
            await resources.enter_async_context(
                periodic("finish-moves", settings.move_retry_interval_seconds, finish_moves)
            )
            yield

    app = create_service_app(
        title="Delivery service",
        lifespan=lifespan,
        routers=[deliveries],
        middleware=[Middleware(IdempotencyMiddleware, routes={("POST", "/api/deliveries")})],
    )
    app.state.settings = settings
    return app
