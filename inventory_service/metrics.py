"""Inventory's domain metrics: units through the hold lifecycle, holds that timed out, holds open.

Counted by the services layer once per change the store reports it made (a retried hold or
commit moves nothing and counts nothing); with several instances, sum the counters over
instances, but take the max of `inventory_holds_open`, which every instance reads from the shared
store."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from inventory_service.domain import Hold, Sweep

EVENTS = ("held", "committed", "released", "expired", "returned")

UNITS = Counter(
    "inventory_units_total",
    "Units by hold event: held for an order, committed (sold), released (order failed), expired (its "
    "hold timed out), returned (order cancelled).",
    ["event"],
)
HOLDS_EXPIRED = Counter(
    "inventory_holds_expired_total", "Holds released because sales neither committed nor released them."
)
HOLDS_OPEN = Gauge(
    "inventory_holds_open", "Holds neither committed nor released, as of the last expiry sweep."
)
UNITS_ON_HOLD = Gauge("inventory_units_on_hold", "Units in those holds, as of the last expiry sweep.")
_children = {event: UNITS.labels(event) for event in EVENTS}  # every series exists from the start


def units(event: str, hold: Hold) -> None:
    _children[event].inc(hold.units)


def swept(sweep: Sweep) -> None:
    for hold in sweep.released:
        units("expired", hold)
    HOLDS_EXPIRED.inc(len(sweep.released))
    HOLDS_OPEN.set(len(sweep.still_held))
    UNITS_ON_HOLD.set(sum(hold.units for hold in sweep.still_held))
