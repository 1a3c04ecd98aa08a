"""Sales reconciles with inventory once it starts (reconcile.py): while inventory is still starting,
it only asks inventory's health, so its breaker for inventory stays closed and the first orders
after inventory comes up are taken (seen in `make test-k8s`, where pods start together: the
reconciliation's refused calls opened the breaker and the first order was a 503)."""

from __future__ import annotations

import asyncio

import httpx

from sales_service.app import create_app
from sales_service.payments import SimulatedPayments
from sales_service.settings import SalesSettings
from sales_service.store import DocSalesStore
from shared.store import Tables
from tests.helpers import STAFF
from tests.unit.sales.fake_inventory import ORDER, FakeInventory


class Starting:
    """Inventory refusing every connection until `up`; the paths it was asked for, in order."""

    def __init__(self, inventory: FakeInventory) -> None:
        self.inventory, self.up, self.paths = inventory, False, list[str]()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if not self.up:
            raise httpx.ConnectError("inventory is starting", request=request)
        return await self.inventory(request)


async def until(condition: object, turns: int = 500) -> None:
    for _ in range(turns):  # bounded: a few seconds at most
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_reconciling_on_start_waits_for_inventory_and_never_opens_its_breaker() -> None:
    inventory = Starting(FakeInventory())
    settings = SalesSettings(store="memory", recovery_interval_seconds=0.01, breaker_failures=2)
    to_inventory = httpx.AsyncClient(transport=httpx.MockTransport(inventory), base_url="http://inventory")
    app = create_app(
        settings, store=DocSalesStore(Tables()), inventory=to_inventory, payments=SimulatedPayments()
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sales", headers=STAFF
        ) as api,
    ):
        await until(lambda: len(inventory.paths) >= 10)  # tried again and again while it starts
        assert set(inventory.paths) == {"/healthz"}
        inventory.up = True
        await until(lambda: any(p.startswith("/internal/holds/") for p in inventory.paths))

        placed = await api.post("/api/orders", json=ORDER)

    assert placed.status_code == 201, placed.text
