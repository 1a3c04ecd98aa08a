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
from inventory_service.store import DocInventoryStore, InventoryStore
from inventory_service.upgrade import upgrade
from shared.app import create_service_app
from shared.store.docs import make_docs
from shared.tasks import periodic

log = logging.getLogger("inventory_service")


def create_app(settings: InventorySettings | None = None, store: InventoryStore | None = None) -> FastAPI:
    settings = settings or InventorySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = the_store = store or DocInventoryStore(
            make_docs(settings, "inventory", upgrade=upgrade)
        )
        app.state.readiness["store"] = the_store.ping

        async def sweep() -> None:
            expired = await services.expire_holds(the_store)
            if expired:
                log.info("expired holds released", extra={"orders": expired})

        try:
            await the_store.open()
            await the_store.seed(DEFAULT_CATALOG)  # once, even when several instances start together
            async with periodic("expire-holds", settings.expiry_sweep_seconds, sweep):
                yield
        finally:
            await the_store.close()

    app = create_service_app(title="Inventory service", lifespan=lifespan, routers=[books, internal])
    app.state.settings = settings
    return app
