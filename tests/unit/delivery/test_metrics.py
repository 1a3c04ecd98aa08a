"""Delivery's domain metrics: deliveries scheduled and moves, each counted once."""

from __future__ import annotations

from prometheus_client import REGISTRY

from delivery_service.store import DocDeliveryStore
from shared.store import Tables
from tests.helpers import sample
from tests.unit.delivery.fake_sales import FakeSales, an_order, patch, post, running


async def test_deliveries_scheduled_and_moves_are_counted_once_each() -> None:
    scheduled = sample("deliveries_scheduled_total")
    moves = {status: sample("delivery_moves_total", status=status) for status in ("Shipped", "Cancelled")}
    async with running(FakeSales(an_order("order_1")), delivery_store=DocDeliveryStore(Tables())) as api:
        assert (await post(api)).status_code == 201
        assert (await post(api)).status_code == 409  # one delivery per order: nothing scheduled
        assert (await patch(api, "Shipped")).status_code == 200
        assert (await patch(api, "Shipped")).status_code == 409
        assert (await patch(api, "Cancelled")).status_code == 409

    assert sample("deliveries_scheduled_total") == scheduled + 1
    assert sample("delivery_moves_total", status="Shipped") == moves["Shipped"] + 1
    assert sample("delivery_moves_total", status="Cancelled") == moves["Cancelled"]
    for status in ("In Transit", "Delivered"):  # every series exists from the start
        assert REGISTRY.get_sample_value("delivery_moves_total", {"status": status}) is not None
