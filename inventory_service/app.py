"""Builds the inventory app: opens the store, seeds the default catalog, sweeps expired holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from inventory_service import services
from inventory_service.domain import DEFAULT_CATALOG
from inventory_service.routes import books, internal
from inventory_service.settings import InventorySettings
from inventory_service.store import InventoryStore, TablesInventoryStore
from shared.app import create_service_app
from shared.store import open_tables
from shared.tasks import periodic

log = logging.getLogger("inventory_service")


def open_store(settings: InventorySettings) -> InventoryStore:
    return TablesInventoryStore(open_tables(settings.store, settings.data_dir, fsync=settings.fsync))


def create_app(settings: InventorySettings | None = None, store: InventoryStore | None = None) -> FastAPI:
    settings = settings or InventorySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = the_store = store or open_store(settings)
        await the_store.seed(DEFAULT_CATALOG)
        app.state.readiness["store"] = the_store.ping

        async def sweep() -> None:
            expired = await services.expire_holds(the_store)
            if expired:
                log.info("expired holds released", extra={"orders": expired})

        try:
            async with periodic("expire-holds", settings.expiry_sweep_seconds, sweep):
                yield
        finally:
            await the_store.close()

    app = create_service_app(title="Inventory service", lifespan=lifespan, routers=[books, internal])
    app.state.settings = settings
    return app
