"""A saga's lease on its order: held in the store while the saga runs, so recovery leaves the order
alone; renewed before the charge once half of it has run; given back when the saga stops short."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sales_service.domain import HandedOver, Order
from sales_service.store import SalesStore
from shared.idempotency import Key

log = logging.getLogger("sales_service")


class Saga:
    """One placing of an order: its lease in the store (so recovery leaves it alone while it runs),
    renewed before the charge; a saga that lost its lease stops and leaves the order to recovery.

    A lease with more than half its time left is not renewed: no one else may take it before it
    runs out (recovery takes only leases whose time is up), so the store's answer is known, and
    the usual order, placed in well under half a lease, costs no renewal."""

    def __init__(self, store: SalesStore, seconds: float, key: Key | None) -> None:
        self.store, self.seconds, self.key = store, seconds, key
        self.owner = f"saga:{uuid.uuid4().hex}"
        self.until = 0.0  # when the lease last taken runs out

    def lease(self) -> tuple[str, float]:
        self.until = time.time() + self.seconds
        return self.owner, self.until

    async def renew(self, order: Order) -> None:
        if time.time() < self.until - self.seconds / 2:
            return
        if not await self.store.lease_order(order.order_id, *self.lease()):
            raise HandedOver(order.order_id)

    async def end(self, order_id: str) -> None:
        try:
            await self.store.end_lease(order_id, self.owner)
        except (Exception, asyncio.CancelledError) as exc:
            # The store closing under a shutdown (its connection's read cancelled with it): the
            # lease runs out on its own instead, and recovery takes the order then.
            log.warning("lease not given back", extra={"order_id": order_id, "error": repr(exc)})
