"""Builds the delivery app: its store and the sales upstream, wired in `create_app`; the lifespan
opens the store, finishes moves whose call to sales failed and cancels the Pending deliveries of
orders sales has cancelled. Idempotency-Key records for POST /api/deliveries are kept in the same
store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from starlette.middleware import Middleware

from delivery_service import services
from delivery_service.clients import SalesClient
from delivery_service.routes import deliveries
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore, DocDeliveryStore
from shared.admission import Bounds
from shared.app import create_service_app
from shared.http import Instances, Upstream
from shared.idempotency import purging
from shared.idempotency_middleware import STALE_AFTER_SECONDS, DocsIdempotencyStore, IdempotencyMiddleware
from shared.store import Tables
from shared.store.docs import TablesDocs, make_docs
from shared.tasks import periodic


def create_app(
    settings: DeliverySettings | None = None,
    *,
    store: DeliveryStore | None = None,
    sales: Instances | None = None,
) -> FastAPI:
    """The delivery app; `store` and `sales` (what answers for the sales service) replace the real ones."""
    settings = settings or DeliverySettings()
    # An injected store keeps its own data; its idempotency keys get fresh tables.
    docs = make_docs(settings, "delivery") if store is None else TablesDocs(Tables())
    the_store = store or DocDeliveryStore(docs)
    idempotency = DocsIdempotencyStore(docs)
    upstream = Upstream.from_settings("sales", settings.sales_url if sales is None else sales, settings)
    the_sales = SalesClient(upstream)
    grace = timedelta(seconds=settings.move_claim_seconds)
    finish_moves = partial(services.finish_moves, the_store, the_sales, grace=grace)
    cancel_with_orders = partial(services.cancel_with_orders, the_store, the_sales)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:  # closes what was opened, last first, even on failure
            resources.push_async_callback(upstream.aclose)
            await the_store.open()
            resources.push_async_callback(the_store.close)
            await resources.enter_async_context(purging(idempotency.purge, settings.idempotency_ttl_hours))
            await resources.enter_async_context(
                periodic("finish-moves", settings.move_retry_interval_seconds, finish_moves)
            )
            await resources.enter_async_context(
                periodic("cancel-with-orders", settings.cancelled_orders_poll_seconds, cancel_with_orders)
            )
            yield

    idempotent = Middleware(
        IdempotencyMiddleware,
        store=idempotency,
        routes={("POST", "/api/deliveries")},
        stale_after=STALE_AFTER_SECONDS,
    )
    app = create_service_app(
        title="Delivery service",
        lifespan=lifespan,
        routers=[deliveries],
        middleware=[idempotent],
        internal_secret=settings.internal_secret,
        admission=Bounds.from_settings(settings),
    )
    app.state.settings, app.state.store, app.state.sales = settings, the_store, the_sales
    app.state.readiness |= {"store": the_store.ping, "sales": upstream.ready}
    return app
