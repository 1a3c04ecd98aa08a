"""Reconciliation of sales' orders with inventory's holds.

Each service has its own store, and a store can lose its last writes while the other keeps them:
Redis with `appendfsync everysec` after a host crash, the JSON store with fsync off after a power
loss. Then an order can be `Confirmed` at sales while inventory no longer has its hold committed,
or inventory can keep a committed hold for an order sales no longer has (or has failed or
refunded). `reconcile` finds these and repairs what it can, by the same idempotent, order-keyed
calls the saga makes:

- a sold order (Confirmed, Shipped, Delivered) whose hold is held: commit it; missing: hold its
  lines again and commit (when the stock is gone meanwhile it is reported, not repaired); released
  or returned: reported (its units are back in stock and may be sold again);
- a finished order (Failed, or Cancelled and refunded), or an order number sales does not have
  (up to `PROBE` numbers past the last it has), whose hold is committed: return its units; held:
  release it;
- the next order numbers: above every number inventory has a hold for, so a new order never takes
  the number (and so the hold) of one sales lost.

`Pending` orders and cancelled ones still to refund are recovery's (`services.recover_pending`).
An order is read again after its hold, so an order placed meanwhile is never undone. It reads one
hold per order: on demand (`POST /internal/orders/reconcile`) every order; on start only the last
`SALES_RECONCILE_RECENT_ORDERS` numbers, as only a store's last writes can be lost, and a restart
must not cost inventory a call per order ever placed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import quote

from sales_service.clients import InventoryClient
from sales_service.domain import Order, OutOfStock
from sales_service.store import SalesStore
from shared.errors import AppError, ServiceUnavailable

log = logging.getLogger("sales_service.reconcile")

PROBE = 16  # order numbers past the last one sales has, checked for holds it lost the order of
SOLD = frozenset({"Confirmed", "Shipped", "Delivered"})


@dataclass
class Reconciled:
    """What one reconciliation checked, repaired and could not repair, one line per order."""

    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)


class HoldsClient(InventoryClient):
    """Inventory's holds as reconciliation needs them: also what state each one is in."""

    async def status(self, order_id: str) -> str | None:
        """The hold's status, None when inventory has none for the order."""
        response = await self.upstream.call("GET", f"/internal/holds/{quote(order_id, safe='')}")
        if response.status_code == 404:
            return None
        body = response.json() if response.status_code == 200 else None
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise ServiceUnavailable(f"Inventory service error ({response.status_code})")
        return str(body["status"])


async def reconcile(store: SalesStore, holds: HoldsClient, after: int | None = None) -> Reconciled:
    """Find and repair disagreement between sales' orders and inventory's holds (module doc), for
    the orders numbered above `after` (None: every order)."""
    done = Reconciled()
    numbers: set[int] = set()
    first = (after or 0) + 1
    while True:
        page = await store.list_orders(customer_id=None, status=None, after=after, limit=100)
        for order in page.items:
            numbers.add(_number(order.order_id))
            done.checked += 1
            await _order(store, holds, order, done)
        if page.next_after is None:
            break
        after = page.next_after
    top = max(numbers, default=first - 1)
    for n in (n for n in range(first, top + 1) if n not in numbers):
        done.checked += 1
        await _without_order(store, holds, f"order_{n}", done)
    misses, n, last_held = 0, top, top
    while misses < PROBE:
        n += 1
        done.checked += 1
        if await _without_order(store, holds, f"order_{n}", done):
            misses, last_held = 0, n
        else:
            misses += 1
    if last_held > top and await store.skip_numbers(last_held):
        done.repaired.append(f"order numbers up to {last_held} skipped: inventory holds them")
    if done.repaired or done.unrepaired:
        log.warning("reconciled", extra={"repaired": done.repaired, "unrepaired": done.unrepaired})
    return done


async def _order(store: SalesStore, holds: HoldsClient, order: Order, done: Reconciled) -> None:
    finished = order.status == "Failed" or (order.status == "Cancelled" and order.payment_status != "Paid")
    if order.status not in SOLD and not finished:
        return  # Pending, or a cancel still to refund: recovery finishes it
    status = await holds.status(order.order_id)
    if order.status in SOLD:
        await _sold(holds, order, status, done)
    elif status in ("held", "committed"):
        await _undo(holds, order.order_id, status, f"{order.order_id} is {order.status}", done)


async def _sold(holds: HoldsClient, order: Order, status: str | None, done: Reconciled) -> None:
    order_id = order.order_id
    if status == "committed":
        return
    if status == "held":
        await holds.commit(order_id)
        done.repaired.append(f"{order_id} is {order.status}: its hold committed")
    elif status is None:
        try:
            await holds.hold(order_id, order.wanted())
        except OutOfStock:
            done.unrepaired.append(f"{order_id} is {order.status}: its hold is lost and the stock is gone")
            return
        await holds.commit(order_id)
        done.repaired.append(f"{order_id} is {order.status}: its lost hold made again and committed")
    else:
        done.unrepaired.append(f"{order_id} is {order.status} but its hold is {status}")


async def _without_order(store: SalesStore, holds: HoldsClient, order_id: str, done: Reconciled) -> bool:
    """Undo a hold whose order sales does not have; whether inventory has a hold for it."""
    status = await holds.status(order_id)
    if status is None:
        return False
    if status in ("held", "committed") and await store.get_order(order_id) is None:  # read after the hold
        await _undo(holds, order_id, status, f"{order_id} is not at sales", done)
    return True


async def _undo(holds: HoldsClient, order_id: str, status: str, why: str, done: Reconciled) -> None:
    if status == "committed":
        await holds.return_units(order_id)
        done.repaired.append(f"{why}: its committed units returned")
    else:
        await holds.release(order_id)
        done.repaired.append(f"{why}: its hold released")


def _number(order_id: str) -> int:
    return int(order_id.removeprefix("order_"))


@asynccontextmanager
async def on_start(
    store: SalesStore, holds: HoldsClient, retry_seconds: float, recent: int
) -> AsyncIterator[None]:
    """Reconcile the last `recent` order numbers once in the background after start, trying again
    every `retry_seconds` while inventory or the store is unavailable; stopped when the context
    closes. It waits until
    inventory answers its health check first: calls to an inventory still starting would open
    sales' breaker for it, and the first orders would be refused fast for nothing."""

    async def run() -> None:
        while True:
            try:
                await holds.upstream.ready()  # straight at the instances, never through the breaker
                await reconcile(store, holds, after=max(0, await store.last_number() - recent))
                return
            except RuntimeError as exc:  # no instance ready yet
                log.info("reconciliation waits for inventory", extra={"error": str(exc)})
            except AppError as exc:
                log.warning("reconciliation postponed", extra={"error": exc.message})
            except Exception:
                log.exception("reconciliation failed; trying again")
            await asyncio.sleep(retry_seconds)

    task = asyncio.create_task(run(), name="reconcile")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
