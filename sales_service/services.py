"""Sales' use cases. `place_order` is the selling saga: hold stock, take payment, commit the hold.

Every step is keyed by the order id and so idempotent; the order is stored `Pending` before the
first step and its payment recorded before the commit, so `recover_order` can finish or undo a
saga that a crash interrupted, without losing a unit or selling one twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sales_service.clients import HoldLost, Inventory
from sales_service.domain import Order, OrderLine, OrderNotFound, OutOfStock, PaymentDeclined, PaymentMethod
from sales_service.payments import PaymentProvider, PaymentUnavailable
from sales_service.store import SalesStore
from shared.clock import utcnow
from shared.errors import AppError, ServiceUnavailable
from shared.retry import retry_idempotent

log = logging.getLogger("sales_service")


async def place_order(
    store: SalesStore,
    inventory: Inventory,
    payments: PaymentProvider,
    *,
    customer_id: str,
    lines: tuple[OrderLine, ...],
    payment_method: PaymentMethod,
    payment_token: str | None,
) -> Order:
    order = await store.add_order(Order("", customer_id, lines, payment_method, utcnow()))
    try:
        prices = await inventory.hold(order.order_id, order.wanted())
    except OutOfStock:
        await store.delete_order(order.order_id)  # never acknowledged: nothing held, nothing charged
        raise
    except AppError:
        await _release_quietly(inventory, order.order_id)  # the hold may have landed before a timeout
        await store.delete_order(order.order_id)
        raise
    order = order.priced(prices)
    try:
        charge = await payments.charge(order.order_id, order.total_amount, payment_method, payment_token)
    except PaymentUnavailable:
        # A provider that failed may still have taken the money: void it (the charge is keyed by order).
        refunded = await _refund_quietly(payments, order.order_id)
        await store.save_order(order.moved("Failed", "Refunded" if refunded else None))
        await _release_quietly(inventory, order.order_id)
        raise
    if not charge.approved:
        await store.save_order(order.moved("Failed", "Declined"))
        await _release_quietly(inventory, order.order_id)
        raise PaymentDeclined(order.order_id)
    order = order.moved("Pending", "Paid")
    await store.save_order(order)
    return await _confirm(store, inventory, payments, order)


async def _confirm(store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order) -> Order:
    """Commit a paid order's hold; if the hold is gone, refund and fail the order."""
    try:
        await retry_idempotent(lambda: inventory.commit(order.order_id))
    except HoldLost:
        await payments.refund(order.order_id)
        await store.save_order(order.moved("Failed", "Refunded"))
        raise
    except AppError as exc:
        # Paid and held: recovery commits it once inventory answers again.
        raise ServiceUnavailable(
            f"{exc.message}; order {order.order_id} will be confirmed when it recovers"
        ) from exc
    order = order.moved("Confirmed")
    await store.save_order(order)
    return order


async def _release_quietly(inventory: Inventory, order_id: str) -> None:
    try:
        await retry_idempotent(lambda: inventory.release(order_id))
    except AppError as exc:
        log.warning(
            "release failed; the hold expires on its own", extra={"order_id": order_id, "error": exc.message}
        )


async def _refund_quietly(payments: PaymentProvider, order_id: str) -> bool:
    try:
        return await payments.refund(order_id)
    except AppError as exc:
        log.warning("refund failed", extra={"order_id": order_id, "error": exc.message})
        return False


async def get_order(store: SalesStore, order_id: str) -> Order:
    order = await store.get_order(order_id)
    if order is None:
        raise OrderNotFound()
    return order


async def recover_order(
    store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order
) -> Order:
    """Finish a saga a crash interrupted: commit what was paid, undo what was not."""
    if order.payment_status == "Paid":
        try:
            return await _confirm(store, inventory, payments, order)
        except HoldLost:
            return order.moved("Failed", "Refunded")
    await inventory.release(order.order_id)
    refunded = await payments.refund(order.order_id)  # void a charge the crash may have hidden from us
    failed = order.moved("Failed", "Refunded" if refunded else None)
    await store.save_order(failed)
    return failed


async def recover_pending(
    store: SalesStore, inventory: Inventory, payments: PaymentProvider, grace: timedelta
) -> list[Order]:
    """Resolve every order still `Pending` after `grace` (longer than any saga takes)."""
    cutoff = utcnow() - grace
    resolved = []
    for order in await store.pending_orders():
        if order.created_at < cutoff:
            try:
                resolved.append(await recover_order(store, inventory, payments, order))
            except AppError as exc:
                log.warning("recovery postponed", extra={"order_id": order.order_id, "error": exc.message})
    return resolved
