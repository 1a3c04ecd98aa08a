"""Builds the delivery app: its store and the sales upstream, wired in `create_app`; the lifespan
opens the store, finishes moves whose call to sales failed and cancels the Pending deliveries of
orders sales has cancelled, and purges old Idempotency-Keys (bound to the deliveries they
scheduled, in the same store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from delivery_service import services
from delivery_service.clients import SalesClient
from delivery_service.routes import deliveries
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore, DocDeliveryStore
from shared.admission import Bounds
from shared.app import create_service_app
from shared.http import Instances, Upstream
from shared.idempotency import purging
from shared.store.docs import make_docs
from shared.tasks import periodic


def create_app(
    settings: DeliverySettings | None = None,
    *,
    store: DeliveryStore | None = None,
    sales: Instances | None = None,
) -> FastAPI:
    """The delivery app; `store` and `sales` (what answers for the sales service) replace the real ones."""
    settings = settings or DeliverySettings()
    # Idempotency-Keys live with the deliveries they scheduled.
    the_store = store or DocDeliveryStore(make_docs(settings, "delivery"), settings.idempotency_max_keys)
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
            await resources.enter_async_context(purging(the_store.purge_keys, settings.idempotency_ttl_hours))
            await resources.enter_async_context(
                periodic("finish-moves", settings.move_retry_interval_seconds, finish_moves)
            )
            await resources.enter_async_context(
                periodic("cancel-with-orders", settings.cancelled_orders_poll_seconds, cancel_with_orders)
            )
            yield

    app = create_service_app(
        title="Delivery service",
        lifespan=lifespan,
        routers=[deliveries],
        internal_secret=settings.internal_secret,
        admission=Bounds.from_settings(settings),
    )
    app.state.settings, app.state.store, app.state.sales = settings, the_store, the_sales
    app.state.readiness |= {"store": the_store.ping, "sales": upstream.ready}
    return app
