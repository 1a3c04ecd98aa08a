"""Builds the inventory app: its store, wired in `create_app`; the lifespan opens the store, seeds
the default catalog and sweeps expired holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from inventory_service import services
from inventory_service.domain import DEFAULT_CATALOG
from inventory_service.routes import LEAN, books, internal
from inventory_service.settings import InventorySettings
from inventory_service.store import DocInventoryStore, InventoryStore
from inventory_service.upgrade import upgrade
from shared.admission import Bounds
from shared.app import create_service_app
from shared.lean import LeanRoutes
from shared.store.docs import make_docs
from shared.tasks import periodic

log = logging.getLogger("inventory_service")


def create_app(settings: InventorySettings | None = None, *, store: InventoryStore | None = None) -> FastAPI:
    """The inventory app; `store` replaces the one the settings choose."""
    settings = settings or InventorySettings()
    the_store = store or DocInventoryStore(make_docs(settings, "inventory", upgrade=upgrade))

    async def sweep() -> None:
        expired = await services.expire_holds(the_store)
        if expired:
            log.info("expired holds released", extra={"orders": expired})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:  # closes what was opened, last first, even on failure
            await the_store.open()
            resources.push_async_callback(the_store.close)
            await the_store.seed(DEFAULT_CATALOG)  # once, even when several instances start together
            await resources.enter_async_context(
                periodic("expire-holds", settings.expiry_sweep_seconds, sweep)
            )
            yield

    app = create_service_app(
        title="Inventory service",
        lifespan=lifespan,
        routers=[books, internal],
        middleware=[Middleware(LeanRoutes, routes=LEAN)],
        internal_secret=settings.internal_secret,
        admission=Bounds.from_settings(settings),
    )
    app.state.settings, app.state.store = settings, the_store
    app.state.readiness["store"] = the_store.ping
    return app
