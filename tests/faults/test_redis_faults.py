"""Several instances on one Redis under faults: an instance killed mid-race, Redis itself stopped
and started again mid-stream. Whatever happens, units sold plus units in stock add up, no client
sees a 500, and the shop serves again without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import RedisServer, all_orders, eventually, order_body, sold, stock, user_client

FAST_RECOVERY = {
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
    "INVENTORY_HOLD_TTL_SECONDS": "3",
    "INVENTORY_EXPIRY_SWEEP_SECONDS": "0.2",
    # Quick to notice Redis is gone, so the stream sees 503s rather than long waits.
    "INVENTORY_REQUEST_TIMEOUT": "1",
    "SALES_REQUEST_TIMEOUT": "2",
    "DELIVERY_REQUEST_TIMEOUT": "2",
    "GATEWAY_REQUEST_TIMEOUT": "10",
}


@pytest.fixture
def shop(tmp_path: Path, own_redis: RedisServer) -> Iterator[LocalSystem]:
    system = LocalSystem(tmp_path, env=FAST_RECOVERY, store="redis", instances=2, redis_url=own_redis.url)
    try:
        system.start()
        yield system
    finally:
        system.close()


@pytest.fixture
async def http(shop: LocalSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with user_client(shop.url) as client:
        yield client


async def balanced(client: httpx.AsyncClient, book: str, start: int) -> bool:
    """Every order settled, and stock plus confirmed units equals the starting stock."""
    orders = await all_orders(client, 300)
    if any(o["status"] == "Pending" for o in orders):
        return False
    return await stock(client, book) + sold(orders, book) == start


async def test_killing_an_inventory_instance_mid_race_still_sells_each_unit_once(
    http: httpx.AsyncClient, shop: LocalSystem
) -> None:
    async def buy() -> int:
        return (await http.post("/api/orders", json=order_body("789"))).status_code

    first = [asyncio.create_task(buy()) for _ in range(100)]
    await asyncio.sleep(0.05)
    shop.kill("inventory-2")
    statuses = await asyncio.gather(*first, *(buy() for _ in range(100)))

    assert 500 not in statuses and set(statuses) <= {201, 400, 503, 504}, statuses
    assert statuses.count(201) <= 25
    assert await eventually(lambda: balanced(http, "789", 25)), "units sold and units in stock disagree"
    orders = await all_orders(http, 300)
    assert sold(orders, "789") == 25 - await stock(http, "789")


async def test_redis_stopped_mid_stream_fails_cleanly_and_the_shop_recovers_by_itself(
    http: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    statuses: list[int] = []
    five_sold = asyncio.Event()

    async def buyer() -> None:
        for _ in range(12):
            response = await http.post("/api/orders", json=order_body("123", 1))
            statuses.append(response.status_code)
            if statuses.count(201) >= 5:
                five_sold.set()
            if response.status_code >= 500:
                assert response.headers.get("retry-after") or response.status_code == 504, response.text
                assert "error" in response.json()

    async def outage() -> None:
        await asyncio.wait_for(five_sold.wait(), timeout=60)
        own_redis.stop()
        await asyncio.sleep(1.5)
        own_redis.start()

    await asyncio.gather(outage(), *(buyer() for _ in range(4)))

    assert 500 not in statuses and set(statuses) <= {201, 503, 504}, statuses
    assert 503 in statuses or 504 in statuses, "the outage was never seen"

    async def serving() -> bool:
        return (await http.post("/api/orders", json=order_body("123", 1))).status_code == 201

    assert await eventually(serving), "the shop did not serve again after Redis came back"
    assert await eventually(lambda: balanced(http, "123", 50)), "units sold and units in stock disagree"
