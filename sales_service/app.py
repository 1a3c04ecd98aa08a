"""Builds the sales app: its store, the inventory upstream and the payment provider, wired in
`create_app`; the lifespan opens the store and recovers interrupted sagas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from starlette.middleware import Middleware

from sales_service import reconcile, recovery
from sales_service.payments import PaymentProvider, SimulatedPayments, TimedPayments
from sales_service.routes import LEAN, internal, orders
from sales_service.settings import SalesSettings
from sales_service.store import DocSalesStore, SalesStore
from shared.admission import Bounds
from shared.app import create_service_app
from shared.http import Instances, Upstream
from shared.idempotency import purging
from shared.lean import LeanRoutes
from shared.store.docs import make_docs
from shared.tasks import periodic


def create_app(
    settings: SalesSettings | None = None,
    *,
    store: SalesStore | None = None,
    inventory: Instances | None = None,
    payments: PaymentProvider | None = None,
) -> FastAPI:
    """The sales app; `store`, `inventory` (what answers for the inventory service) and `payments`
    (the provider) replace the real ones."""
    settings = settings or SalesSettings()
    # Idempotency-Keys live with the orders they placed.
    the_store = store or DocSalesStore(make_docs(settings, "sales"), settings.idempotency_max_keys)
    upstream = Upstream.from_settings(
        "inventory", settings.inventory_url if inventory is None else inventory, settings
    )
    the_inventory = reconcile.HoldsClient(upstream)
    the_payments = TimedPayments(payments or _simulated(settings), settings.payment_timeout_seconds)
    grace = timedelta(seconds=settings.recovery_grace_seconds)
    recover = partial(recovery.recover_pending, the_store, the_inventory, the_payments, grace)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:  # closes what was opened, last first, even on failure
            resources.push_async_callback(upstream.aclose)
            await the_store.open()
            resources.push_async_callback(the_store.close)
            await resources.enter_async_context(
                periodic("recover-orders", settings.recovery_interval_seconds, recover)
            )
            await resources.enter_async_context(purging(the_store.purge_keys, settings.idempotency_ttl_hours))
            if settings.reconcile_on_start:
                await resources.enter_async_context(
                    reconcile.on_start(
                        the_store,
                        the_inventory,
                        settings.recovery_interval_seconds,
                        settings.reconcile_recent_orders,
                    )
                )
            yield

    app = create_service_app(
        title="Sales service",
        lifespan=lifespan,
        routers=[orders, internal],
        middleware=[Middleware(LeanRoutes, routes=LEAN)],
        internal_secret=settings.internal_secret,
        admission=Bounds.from_settings(settings),
    )
    app.state.settings, app.state.store = settings, the_store
    app.state.inventory, app.state.payments = the_inventory, the_payments
    app.state.readiness |= {"store": the_store.ping, "inventory": upstream.ready}
    return app


def _simulated(settings: SalesSettings) -> PaymentProvider:
    """The provider the shop runs with until a real one is wired (see SimulatedPayments)."""
    return SimulatedPayments(
        failure_rate=settings.payment_failure_rate,
        timeout_rate=settings.payment_timeout_rate,
        seed=settings.payment_seed,
    )
