"""Reconciliation of sales' orders with inventory's holds after inventory's store lost its last
writes (the JSON journal's tail cut off, as a power loss with fsync off does; Redis put back to an
earlier state, as a host crash with appendfsync everysec does): real sales and inventory apps
in-process, sales on its own store."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inventory_service.app import create_app as create_inventory
from inventory_service.domain import DEFAULT_CATALOG
from inventory_service.settings import InventorySettings
from inventory_service.store import DocInventoryStore
from sales_service.app import create_app as create_sales
from sales_service.payments import SimulatedPayments
from sales_service.reconcile import HoldsClient, reconcile
from sales_service.settings import SalesSettings
from sales_service.store import DocSalesStore
from shared.http import Upstream
from shared.store import Tables
from shared.store.redis_docs import RedisDocs
from tests.helpers import STAFF, RedisServer, order_body
from tests.integration.inventory.books import open_json_store, statuses, stock


class Inventory:
    """Inventory's store on one backend, that can lose every write made after `snapshot`."""

    def __init__(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.directory = tmp_path / "inventory"
        self.prefix = f"test-{uuid.uuid4().hex}:"
        self.server: RedisServer | None = (
            request.getfixturevalue("redis_server") if backend == "redis" else None
        )
        self.store: DocInventoryStore
        self.saved: Any = None

    async def open(self) -> DocInventoryStore:
        if self.server is None:
            self.store = await open_json_store(self.directory)
        else:
            self.store = DocInventoryStore(RedisDocs.from_url(self.server.url, self.prefix))
            await self.store.open()
            await self.store.seed(DEFAULT_CATALOG)
        return self.store

    async def snapshot(self) -> None:
        if self.server is None:
            self.saved = (self.directory / "journal.jsonl").stat().st_size
            return
        redis = self._redis()
        self.saved = {key: await redis.dump(key) async for key in redis.scan_iter(f"{self.prefix}*")}

    async def lose_later_writes(self) -> DocInventoryStore:
        """What the host crash leaves: the store as at `snapshot`, opened again."""
        if self.server is None:
            await self.store.close()
            os.truncate(self.directory / "journal.jsonl", self.saved)  # the unsynced tail gone
            return await self.open()
        redis = self._redis()
        async for key in redis.scan_iter(f"{self.prefix}*"):
            await redis.delete(key)
        for key, value in self.saved.items():
            await redis.restore(key, 0, value)
        return self.store

    def _redis(self) -> Any:
        return self.store.docs.redis  # type: ignore[attr-defined]


@dataclass
class Shop:
    sales: httpx.AsyncClient
    store: DocSalesStore
    holds: HoldsClient

    async def place(self, book: str, quantity: int) -> str:
        response = await self.sales.post("/api/orders", json=order_body(book, quantity))
        assert response.status_code == 201, response.text
        return str(response.json()["order_id"])


def _shop(inventory: DocInventoryStore, sales_store: DocSalesStore) -> tuple[Shop, list[httpx.AsyncClient]]:
    inventory_app = create_inventory(InventorySettings(store="memory"), store=inventory)
    to_inventory = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=inventory_app), base_url="http://inventory")
        for _ in range(2)
    ]
    sales_app = create_sales(
        SalesSettings(store="memory"),
        store=sales_store,
        inventory=to_inventory[0],
        payments=SimulatedPayments(),
    )
    sales = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sales_app), base_url="http://sales", headers=STAFF
    )
    return Shop(sales, sales_store, HoldsClient(Upstream("inventory", to_inventory[1]))), [
        sales,
        *to_inventory,
    ]


@pytest.fixture(params=["json", "redis"])
async def inventory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inventory]:
    the_inventory = Inventory(request.param, tmp_path, request)
    await the_inventory.open()
    yield the_inventory
    await the_inventory.store.close()


@pytest.fixture
async def shop(inventory: Inventory) -> AsyncIterator[Shop]:
    sales_store = DocSalesStore(Tables())
    await sales_store.open()
    the_shop, clients = _shop(inventory.store, sales_store)
    yield the_shop
    for client in clients:
        await client.aclose()


async def test_reconciliation_repairs_what_inventory_lost_in_a_crash(
    inventory: Inventory, shop: Shop
) -> None:
    assert [await shop.place("123", 2), await shop.place("456", 1), await shop.place("789", 3)] == [
        "order_1",
        "order_2",
        "order_3",
    ]
    await inventory.snapshot()
    assert await shop.place("123", 1) == "order_4"  # confirmed, its hold lost in the crash
    assert (await shop.sales.post("/api/orders/order_2/cancel")).status_code == 200  # its return lost
    await shop.store.delete_order("order_3")  # sales lost this one: its units are sold for nothing
    crashed = await inventory.lose_later_writes()
    after_crash = await statuses(crashed, "order_1", "order_2", "order_3", "order_4")
    assert after_crash == {
        "order_1": "committed",
        "order_2": "committed",
        "order_3": "committed",
        "order_4": None,
    }
    shop, clients = _shop(crashed, shop.store)

    done = await reconcile(shop.store, shop.holds)
    again = (await shop.sales.post("/internal/orders/reconcile")).json()

    assert len(done.repaired) == 3 and done.unrepaired == [], done
    assert await statuses(crashed, "order_1", "order_2", "order_3", "order_4") == {
        "order_1": "committed",
        "order_2": "returned",
        "order_3": "returned",
        "order_4": "committed",
    }
    assert await stock(crashed) == {"123": 47, "456": 30, "789": 25}
    assert again["repaired"] == again["unrepaired"] == [] and again["checked"] >= 4
    for client in clients:
        await client.aclose()


async def test_reconciliation_returns_the_units_of_the_last_order_sales_lost(
    inventory: Inventory, shop: Shop
) -> None:
    await shop.place("123", 2)
    await shop.place("789", 5)
    await shop.store.delete_order("order_2")  # the last order sales gave a number to: none after it

    done = await reconcile(shop.store, shop.holds)

    assert done.repaired == ["order_2 is not at sales: its committed units returned"]
    assert await statuses(inventory.store, "order_1", "order_2") == {
        "order_1": "committed",
        "order_2": "returned",
    }
    assert await stock(inventory.store) == {"123": 48, "456": 30, "789": 25}


async def test_reconciliation_of_stores_that_agree_changes_nothing(inventory: Inventory, shop: Shop) -> None:
    await shop.place("123", 2)
    assert (await shop.sales.post("/api/orders/order_1/cancel")).status_code == 200
    await shop.place("456", 1)

    done = await reconcile(shop.store, shop.holds)

    assert done.repaired == done.unrepaired == [] and done.checked == 2 + 16
    assert await stock(inventory.store) == {"123": 50, "456": 29, "789": 25}


async def test_sales_reconciles_once_when_it_starts(inventory: Inventory, shop: Shop) -> None:
    await shop.place("123", 2)
    await shop.store.delete_order("order_1")  # lost at sales: inventory keeps its units committed
    inventory_app = create_inventory(InventorySettings(store="memory"), store=inventory.store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=inventory_app), base_url="http://inventory"
    ) as to_inventory:
        sales_app = create_sales(SalesSettings(store="memory"), store=shop.store, inventory=to_inventory)

        async with sales_app.router.lifespan_context(sales_app):
            for _ in range(500):  # the background run's few calls, each a few event-loop turns
                if (await statuses(inventory.store, "order_1"))["order_1"] == "returned":
                    break
                await asyncio.sleep(0.01)

    assert await statuses(inventory.store, "order_1") == {"order_1": "returned"}
    assert await stock(inventory.store) == {"123": 50, "456": 30, "789": 25}


async def test_after_sales_lost_its_last_orders_new_orders_take_numbers_past_them(
    inventory: Inventory, shop: Shop
) -> None:
    """Sales' store put back to when it had one order (its counter with it): inventory still holds
    order_2 and order_3. Without reconciling the counter, the next order took number 2, met
    order_2's returned hold and failed."""
    first = await shop.place("123", 2)
    await shop.place("789", 5)
    await shop.place("456", 1)
    crashed = DocSalesStore(Tables())  # sales as it was after its first order
    await crashed.open()
    kept = await shop.store.get_order(first)
    assert kept is not None and (await crashed.add_order(kept)).order_id == first
    await crashed.save_order(kept)
    shop, clients = _shop(inventory.store, crashed)

    done = await reconcile(shop.store, shop.holds)
    placed = await shop.place("123", 1)

    assert "order numbers up to 3 skipped: inventory holds them" in done.repaired
    assert placed == "order_4"
    assert await statuses(inventory.store, "order_2", "order_3", "order_4") == {
        "order_2": "returned",
        "order_3": "returned",
        "order_4": "committed",
    }
    assert await stock(inventory.store) == {"123": 47, "456": 30, "789": 25}
    for client in clients:
        await client.aclose()


async def test_reconciling_the_recent_orders_leaves_the_older_ones_unread(
    inventory: Inventory, shop: Shop
) -> None:
    """On start only the last order numbers are reconciled: a restart costs inventory a call per
    recent order, not one per order ever placed."""
    for _ in range(4):
        await shop.place("123", 1)
    await shop.store.delete_order("order_1")  # too old to be looked at
    await shop.store.delete_order("order_4")  # recent: its units are returned

    done = await reconcile(shop.store, shop.holds, after=2)

    assert done.repaired == ["order_4 is not at sales: its committed units returned"]
    assert done.checked == 1 + 1 + 16  # order_3, the gap at order_4, then the probe past the top
    assert await statuses(inventory.store, "order_1", "order_4") == {
        "order_1": "committed",
        "order_4": "returned",
    }
