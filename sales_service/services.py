"""Sales' use cases. `place_order` is the selling saga: hold stock, take payment, commit the hold.
The domain metrics (`metrics.py`: orders by outcome, payments) are counted here.

Every step is keyed by the order id and so idempotent; the order is stored `Pending` (leased to
its saga, its Idempotency-Key bound) before the first step and its payment recorded before the
commit, so `recovery.recover_order` can finish or undo a saga that a crash or a shutdown
interrupted, without losing a unit or selling one twice. Every status change is a
compare-and-set (`SalesStore.swap_order`).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from sales_service import metrics
from sales_service.clients import HoldLost, Inventory
from sales_service.domain import (
    MAX_TOTAL,
    AlreadyPlaced,
    HandedOver,
    Order,
    OrderLine,
    OrderNotFound,
    OrderStatus,
    OrderTooLarge,
    OutOfStock,
    PaymentMethod,
    answer,
)
from sales_service.lease import Saga
from sales_service.payments import Charge, PaymentProvider, PaymentTimeout, PaymentUnavailable
from sales_service.store import SalesStore
from shared.clock import utcnow
from shared.errors import AppError, Forbidden, ServiceUnavailable
from shared.idempotency import Key
from shared.paging import Page
from shared.principal import Principal
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
    principal: Principal,
    key: Key | None = None,
    lease_seconds: float = 30.0,
) -> tuple[Order, bool]:
    """The order placed, and whether it was placed before: a retry with the Idempotency-Key `key`
    is answered from the order the key is bound to, as that order is now (`answer`)."""
    if not principal.owns(customer_id):
        raise Forbidden("Customers may order only for themselves")
    saga = Saga(store, lease_seconds, key)
    draft = Order("", customer_id, lines, payment_method, utcnow())
    try:
        order = await store.add_order(draft, saga.lease(), key)
    except AlreadyPlaced as exc:  # a retry, or a concurrent request with the same key that won
        return await _answer_retry(store, exc.order_id), True
    try:
        return await _run(saga, inventory, payments, order, payment_token), False
    except asyncio.CancelledError:
        # A graceful shutdown ran out of time: the order, its state and its key are in the store,
        # recovery finishes it; the client is told which order, and a retry answers from it.
        if (task := asyncio.current_task()) is not None:
            task.uncancel()
        await saga.end(order.order_id)
        raise HandedOver(order.order_id) from None
    except BaseException:
        # Handed over: whatever stopped the saga, recovery may finish the order from now on. (A
        # saga that finished settled its order, and settling an order drops its lease.)
        await saga.end(order.order_id)
        raise


async def _answer_retry(store: SalesStore, order_id: str) -> Order:
    order = await store.get_order(order_id)
    if order is None:  # deleted with its key in one transaction: only a purge race gets here
        raise OrderNotFound()
    return answer(order)


async def _run(
    saga: Saga, inventory: Inventory, payments: PaymentProvider, order: Order, payment_token: str | None
) -> Order:
    store = saga.store
    prices = await _hold(store, inventory, order, saga.key)
    order = order.priced(prices)
    await saga.renew(order)
    try:
        charge = await take_payment(
            payments, order.order_id, order.total_amount, order.payment_method, payment_token
        )
    except PaymentUnavailable:  # down, or too slow (PaymentTimeout): 503 with Retry-After
        await _void(store, inventory, payments, order)
        raise
    if not charge.approved:
        current, moved = await store.swap_order(order, order.moved("Failed", "Declined"))
        if moved:
            metrics.order("declined")
            await _release_quietly(inventory, order.order_id)
        return answer(current)
    paid, moved = await store.swap_order(order, order.moved("Pending", "Paid"))
    if not moved:  # recovery failed the order meanwhile (and may have refunded before this charge)
        await refund_payment(payments, order.order_id)
        return answer(paid)
    return await _confirm(store, inventory, payments, paid)


async def _hold(store: SalesStore, inventory: Inventory, order: Order, key: Key | None) -> dict[str, Decimal]:
    """The held lines' prices; an order refused here is deleted and its key freed: it kept nothing."""
    try:
        prices = await inventory.hold(order.order_id, order.wanted())
    except (OutOfStock, OrderTooLarge):
        await store.delete_order(order.order_id, key)  # never acknowledged: nothing held, nothing charged
        metrics.order("rejected")
        raise
    except AppError:
        await _release_quietly(inventory, order.order_id)  # the hold may have landed before a timeout
        await store.delete_order(order.order_id, key)
        metrics.order("rejected")
        raise
    if order.priced(prices).total_amount > MAX_TOTAL:  # an inventory that ignored max_total
        await _release_quietly(inventory, order.order_id)
        await store.delete_order(order.order_id, key)
        metrics.order("rejected")
        raise OrderTooLarge()
    return prices


async def _confirm(store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order) -> Order:
    """Commit a paid order's hold; if the hold is gone, refund and fail the order. The order as it
    is now: one another saga or a delivery moved on meanwhile is left as it is."""
    try:
        await retry_idempotent(lambda: inventory.commit(order.order_id))
    except HoldLost:
        await refund_payment(payments, order.order_id)
        current, moved = await store.swap_order(order, order.moved("Failed", "Refunded"))
        if moved:
            metrics.order("failed")
            raise
        return current
    except AppError as exc:
        # Paid and held: recovery commits it once inventory answers again.
        raise ServiceUnavailable(
            f"{exc.message}; order {order.order_id} will be confirmed when it recovers",
            extra={"order_id": order.order_id},
        ) from exc
    current, moved = await store.swap_order(order, order.moved("Confirmed"))
    if moved:
        metrics.order("confirmed")
    return current


async def _release_quietly(inventory: Inventory, order_id: str) -> None:
    try:
        await retry_idempotent(lambda: inventory.release(order_id))
    except AppError as exc:
        log.warning(
            "release failed; the hold expires on its own", extra={"order_id": order_id, "error": exc.message}
        )


async def _void(store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order) -> None:
    """Undo a charge whose outcome is unknown: a provider that failed or timed out may still have
    taken the money. The refund is keyed by order id; until it is known to have been sent the order
    stays Pending, and recovery releases, refunds and fails it."""
    await _release_quietly(inventory, order.order_id)
    try:
        refunded = await refund_payment(payments, order.order_id)
    except AppError as exc:
        log.warning(
            "void failed; recovery retries it", extra={"order_id": order.order_id, "error": exc.message}
        )
        return
    _, moved = await store.swap_order(order, order.moved("Failed", "Refunded" if refunded else None))
    if moved:
        metrics.order("failed")


async def take_payment(
    payments: PaymentProvider, order_id: str, amount: Decimal, method: str, token: str | None
) -> Charge:
    """Charge the order through the provider, counting the answer in the domain metrics."""
    try:
        charge = await payments.charge(order_id, amount, method, token)
    except PaymentUnavailable as exc:
        metrics.payment("charge", _failure(exc))
        raise
    metrics.payment("charge", "approved" if charge.approved else "declined")
    return charge


async def refund_payment(payments: PaymentProvider, order_id: str) -> bool:
    """Refund the order's charge, if any (whether there was one), counting the answer."""
    try:
        refunded = await payments.refund(order_id)
    except PaymentUnavailable as exc:
        metrics.payment("refund", _failure(exc))
        raise
    metrics.payment("refund", "refunded" if refunded else "nothing")
    return refunded


def _failure(exc: PaymentUnavailable) -> str:
    return "timeout" if isinstance(exc, PaymentTimeout) else "unavailable"


async def get_order(store: SalesStore, order_id: str, principal: Principal | None = None) -> Order:
    """The order; another customer's order does not exist for a customer."""
    order = await store.get_order(order_id)
    if order is None or (principal is not None and not principal.owns(order.customer_id)):
        raise OrderNotFound()
    return order


async def list_orders(
    store: SalesStore,
    principal: Principal,
    *,
    customer_id: str | None,
    status: OrderStatus | None,
    after: int | None,
    limit: int,
) -> Page[Order]:
    if principal.sees_only_own:
        if customer_id not in (None, principal.subject):
            return Page([], 0)
        customer_id = principal.subject
    return await store.list_orders(customer_id=customer_id, status=status, after=after, limit=limit)


async def cancel_order(
    store: SalesStore, inventory: Inventory, payments: PaymentProvider, order_id: str, principal: Principal
) -> Order:
    """Cancel a confirmed order: refund it and put its units back. Cancelling again changes nothing.

    The status moves first (compare-and-set), so a shipment racing the cancel can never win too;
    a refund that cannot finish now is finished by recovery."""
    await get_order(store, order_id, principal)
    order, moved = await store.move_order(order_id, "Cancelled")
    if moved:
        metrics.order("cancelled")
    if order.payment_status != "Paid":
        return order
    try:
        return await _refund_cancelled(store, inventory, payments, order)
    except AppError as exc:
        raise ServiceUnavailable(
            f"Order {order_id} is cancelled; its refund completes when {exc.message.lower()} recovers"
        ) from exc


async def _refund_cancelled(
    store: SalesStore, inventory: Inventory, payments: PaymentProvider, order: Order
) -> Order:
    await refund_payment(payments, order.order_id)
    await retry_idempotent(lambda: inventory.return_units(order.order_id))
    current, _ = await store.swap_order(order, order.moved("Cancelled", "Refunded"))
    return current


async def move_for_delivery(store: SalesStore, order_id: str, status: OrderStatus) -> Order:
    """Shipped or Delivered, as delivery reports it; repeating a move is harmless."""
    order, _ = await store.move_order(order_id, status)
    return order


async def cancelled_among(store: SalesStore, order_ids: list[str]) -> list[str]:
    """Those of `order_ids` that are Cancelled orders: delivery cancels their pending deliveries."""
    orders = [await store.get_order(order_id) for order_id in order_ids]
    return [order.order_id for order in orders if order is not None and order.status == "Cancelled"]
