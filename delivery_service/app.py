"""Builds the delivery app: opens the store and the client for sales, and registers their readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from delivery_service.clients import SalesClient
from delivery_service.routes import deliveries
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore, TablesDeliveryStore
from shared.app import create_service_app
from shared.http import Upstream, make_client
from shared.store import open_tables


def open_store(settings: DeliverySettings) -> DeliveryStore:
    return TablesDeliveryStore(open_tables(settings.store, settings.data_dir, fsync=settings.fsync))


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
            app.state.store = the_store = store or open_store(settings)
            resources.push_async_callback(the_store.close)
            upstream = Upstream("sales", sales or make_client(settings.sales_url, settings))
            resources.push_async_callback(upstream.aclose)
            app.state.sales = SalesClient(upstream)
            app.state.readiness["store"] = the_store.ping
            app.state.readiness["sales"] = upstream.ready
            yield

    app = create_service_app(title="Delivery service", lifespan=lifespan, routers=[deliveries])
    app.state.settings = settings
    return app
