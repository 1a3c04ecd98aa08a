"""Recovery of sagas that did not finish: a crash, a shutdown, a lost lease. Recovery owns what
it recovers: it takes the order's lease in the store first (so two instances, or recovery and a
live saga still within its time, never work on one order at once), and every move it makes is a
compare-and-set from the status it read, so an order that moved on meanwhile is left as it is."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from sales_service import metrics
from sales_service.clients import HoldLost, Inventory
from sales_service.domain import Order
from sales_service.payments import PaymentProvider
from sales_service.services import _confirm, _refund_cancelled, refund_payment
from sales_service.store import SalesStore
from shared.clock import utcnow
from shared.errors import AppError

log = logging.getLogger("sales_service")


async def recover_order(
    store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order
) -> Order:
    """Finish a saga that stopped: commit what was paid, undo what was not, and complete the refund
    of a cancelled order. The order as it is afterwards."""
    if order.status == "Cancelled":
        return await _refund_cancelled(store, inventory, payments, order)
    if order.payment_status == "Paid":
        try:
            return await _confirm(store, inventory, payments, order)
        except HoldLost:
            return order.moved("Failed", "Refunded")
    await inventory.release(order.order_id)
    refunded = await refund_payment(payments, order.order_id)  # void a charge a crash may have hidden
    current, moved = await store.swap_order(order, order.moved("Failed", "Refunded" if refunded else None))
    if moved:
        metrics.order("failed")
    return current


async def recover_pending(
    store: SalesStore,
    inventory: Inventory,
    payments: PaymentProvider,
    grace: timedelta,
    owner: str | None = None,
) -> list[Order]:
    """Resolve every order still `Pending` after `grace` (longer than any saga takes) whose lease
    `owner` (this recoverer) can take; a cancelled one whose refund did not finish at once."""
    owner = owner or f"recovery:{uuid.uuid4().hex}"
    cutoff = utcnow() - grace
    lease_seconds = max(grace.total_seconds(), 1.0)
    resolved = []
    for listed in await store.pending_orders():
        if listed.created_at >= cutoff and listed.status != "Cancelled":
            continue
        if not await store.lease_order(listed.order_id, owner, time.time() + lease_seconds):
            continue  # a live saga, or another recoverer, owns it
        try:
            order = await store.get_order(listed.order_id)  # as it is now that it is ours
            if order is not None and order.unsettled:
                resolved.append(await recover_order(store, inventory, payments, order))
        except AppError as exc:
            log.warning("recovery postponed", extra={"order_id": listed.order_id, "error": exc.message})
        finally:
            await store.end_lease(listed.order_id, owner)
    return resolved
