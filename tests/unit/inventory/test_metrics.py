"""Inventory's domain metrics: units counted once per change of a hold, the sweep setting the gauges."""

from __future__ import annotations

from inventory_service import services as inventory_services
from inventory_service.domain import DEFAULT_CATALOG
from inventory_service.store import DocInventoryStore
from shared.store import Tables
from tests.helpers import sample


async def test_units_are_counted_once_per_change_of_a_hold_and_the_sweep_sets_the_gauges() -> None:
    store = DocInventoryStore(Tables())
    await store.seed(DEFAULT_CATALOG)
    units = {
        event: sample("inventory_units_total", event=event) for event in ("held", "committed", "expired")
    }
    holds_expired = sample("inventory_holds_expired_total")

    for _ in range(2):  # a retry holds and commits nothing more
        await inventory_services.hold_stock(store, "sold", {"123": 2}, 60)
        await inventory_services.commit_hold(store, "sold")
    await inventory_services.hold_stock(store, "late", {"456": 3}, -1)
    await inventory_services.hold_stock(store, "open", {"789": 4}, 60)
    assert await inventory_services.expire_holds(store) == ["late"]

    assert sample("inventory_units_total", event="held") == units["held"] + 2 + 3 + 4
    assert sample("inventory_units_total", event="committed") == units["committed"] + 2
    assert sample("inventory_units_total", event="expired") == units["expired"] + 3
    assert sample("inventory_holds_expired_total") == holds_expired + 1
    assert (sample("inventory_holds_open"), sample("inventory_units_on_hold")) == (1, 4)
