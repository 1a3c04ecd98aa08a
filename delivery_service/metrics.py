"""Delivery's domain metrics: deliveries scheduled, and moves by the status they reached.

Counted by the services layer once per change the store made (a refused or repeated request
counts nothing); with several instances, sum the counters over instances."""

from __future__ import annotations

from prometheus_client import Counter

from delivery_service.domain import NEXT_STATUSES, DeliveryStatus

SCHEDULED = Counter("deliveries_scheduled_total", "Deliveries scheduled (created Pending), one per order.")
MOVES = Counter(
    "delivery_moves_total",
    "Deliveries moved, by the status they moved to: Shipped, In Transit, Delivered, Cancelled.",
    ["status"],
)
# Every status a move can reach has its series from the start.
_moves = {status: MOVES.labels(status) for targets in NEXT_STATUSES.values() for status in targets}


def scheduled() -> None:
    SCHEDULED.inc()


def moved(status: DeliveryStatus) -> None:
    _moves[status].inc()
