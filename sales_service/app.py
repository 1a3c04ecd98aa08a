"""Builds the sales app: opens the store, connects to inventory, and recovers interrupted sagas."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from sales_service import services
from sales_service.clients import InventoryClient
from sales_service.payments import PaymentProvider, SimulatedPayments, TimedPayments
from sales_service.routes import internal, orders
from sales_service.settings import SalesSettings
from sales_service.store import DocSalesStore, SalesStore
from shared.app import create_service_app
from shared.breaker import Protection
from shared.http import Upstream, make_clients
from shared.idempotency import DocsIdempotencyStore, IdempotencyMiddleware
from shared.store import Tables
from shared.store.docs import TablesDocs, make_docs
from shared.tasks import periodic


def create_app(
    settings: SalesSettings | None = None,
    store: SalesStore | None = None,
    inventory_http: httpx.AsyncClient | None = None,
    payments: PaymentProvider | None = None,
) -> FastAPI:
    settings = settings or SalesSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        docs = make_docs(settings, "sales") if store is None else TablesDocs(Tables())
        the_store = store or DocSalesStore(docs)
        await the_store.open()
        app.state.idempotency = idempotency = DocsIdempotencyStore(docs)
        upstream = Upstream(
            "inventory",
            inventory_http or make_clients(settings.inventory_url, settings),
            Protection.from_settings(settings),
            secret=settings.internal_secret,
        )
        inventory = InventoryClient(upstream)
        app.state.store, app.state.inventory = the_store, inventory
        provider = payments or SimulatedPayments(
            failure_rate=settings.payment_failure_rate,
            timeout_rate=settings.payment_timeout_rate,
            seed=settings.payment_seed,
        )
        app.state.payments = the_payments = TimedPayments(provider, settings.payment_timeout_seconds)
        app.state.readiness |= {"store": the_store.ping, "inventory": upstream.ready}
        grace = timedelta(seconds=settings.recovery_grace_seconds)

        async def recover() -> None:
            await services.recover_pending(the_store, inventory, the_payments, grace)

        async def purge() -> None:
            await idempotency.purge(time.time() - settings.idempotency_ttl_hours * 3600)

        try:
            async with (
                periodic("recover-orders", settings.recovery_interval_seconds, recover),
                periodic("purge-idempotency-keys", 3600, purge),
            ):
                yield
        finally:
            await upstream.aclose()
            await the_store.close()

    app = create_service_app(
        title="Sales service",
        lifespan=lifespan,
        routers=[orders, internal],
        middleware=[Middleware(IdempotencyMiddleware, routes={("POST", "/api/orders")})],
    )
    app.state.settings = settings
    return app
