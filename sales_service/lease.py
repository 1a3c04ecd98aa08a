"""A saga's lease on its order: held in the store while the saga runs, so recovery leaves the order
alone; renewed before the charge; given back when the saga stops short."""

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
    renewed before the charge; a saga that lost its lease stops and leaves the order to recovery."""

    def __init__(self, store: SalesStore, seconds: float, key: Key | None) -> None:
        self.store, self.seconds, self.key = store, seconds, key
        self.owner = f"saga:{uuid.uuid4().hex}"

    def lease(self) -> tuple[str, float]:
        return self.owner, time.time() + self.seconds

    async def renew(self, order: Order) -> None:
        if not await self.store.lease_order(order.order_id, *self.lease()):
            raise HandedOver(order.order_id)

    async def end(self, order_id: str) -> None:
        try:
            await self.store.end_lease(order_id, self.owner)
        except (Exception, asyncio.CancelledError) as exc:
            # The store closing under a shutdown (its connection's read cancelled with it): the
            # lease runs out on its own instead, and recovery takes the order then.
            log.warning("lease not given back", extra={"order_id": order_id, "error": repr(exc)})
