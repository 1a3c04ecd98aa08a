"""Sales talks to inventory through a link that turns slow and then fast again: clients get 504 or
503 (never 500, never a hang), sales' breaker opens and orders fail fast without touching the link,
orders go through again without a restart once it is fast, and the books balance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.system import LocalSystem
from tests.faults.latency_proxy import LatencyProxy
from tests.helpers import all_orders, eventually, order_body, sold, stock, user_client

BOOK, START = "123", 50
SLOW = 2.0  # seconds the link holds each chunk: four times sales' request timeout
GATEWAY_TIMEOUT = 5.0
ENV = {
    "SALES_REQUEST_TIMEOUT": "0.5",
    "SALES_BREAKER_FAILURES": "3",
    "SALES_BREAKER_RESET_SECONDS": "2",
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
    "INVENTORY_HOLD_TTL_SECONDS": "3",
    "INVENTORY_EXPIRY_SWEEP_SECONDS": "0.2",
    "GATEWAY_REQUEST_TIMEOUT": str(GATEWAY_TIMEOUT),
}
CIRCUIT_OPEN = "The inventory service is unavailable (circuit open)"


@pytest.fixture
async def slow_link(tmp_path: Path) -> AsyncIterator[tuple[LocalSystem, LatencyProxy]]:
    """The whole system, with sales' calls to inventory (only those) going through the proxy."""
    system = LocalSystem(tmp_path, env=ENV)
    proxy = LatencyProxy(system.specs["inventory"].port)
    failed = True
    try:
        # Threads: starting and stopping block while they wait, and the proxy lives in this loop.
        await asyncio.to_thread(system.start)
        # Only now, with every process on its port, can the proxy's own port be none of theirs.
        await proxy.start()
        await asyncio.to_thread(system.stop, "sales")
        system.specs["sales"].env["SALES_INVENTORY_URL"] = proxy.url
        await asyncio.to_thread(system.start, "sales")
        yield system, proxy
        failed = False
    finally:
        await asyncio.to_thread(system.close)
        await proxy.stop()
        if failed:
            for name in system.processes:
                print(f"----- {name} log (tail) -----\n{system.log(name)[-3000:]}")


async def test_a_slow_inventory_opens_sales_breaker_and_orders_recover_when_it_is_fast_again(
    slow_link: tuple[LocalSystem, LatencyProxy],
) -> None:
    system, proxy = slow_link
    statuses: list[int] = []
    # A client that would wait past the gateway's own timeout fails the test rather than hangs it.
    async with user_client(system.url, timeout=GATEWAY_TIMEOUT + 5) as client:

        async def order() -> httpx.Response:
            response = await client.post("/api/orders", json=order_body(BOOK, 1))
            statuses.append(response.status_code)
            return response

        for _ in range(3):
            steady = await order()
            assert steady.status_code == 201, steady.text

        proxy.delay = SLOW
        tripped: httpx.Response | None = None
        for _ in range(10):  # a few timeouts open it; far fewer than ten orders
            slow = await order()
            assert slow.status_code in (503, 504), slow.text
            assert "error" in slow.json()
            if slow.status_code == 503 and slow.json()["error"] == CIRCUIT_OPEN:
                tripped = slow
                break
        assert tripped is not None, f"the breaker never opened: {statuses}"
        assert int(tripped.headers["retry-after"]) >= 1

        # While open, an order fails fast: nothing reaches the link.
        chunks = proxy.chunks
        refused = await order()
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == CIRCUIT_OPEN
        assert int(refused.headers["retry-after"]) >= 1
        assert proxy.chunks == chunks

        proxy.delay = 0.0
        placed: list[dict[str, Any]] = []

        async def an_order_goes_through() -> bool:
            response = await order()
            assert response.status_code in (201, 503, 504), response.text
            if response.status_code == 201:
                placed.append(response.json())
            return bool(placed)

        assert await eventually(an_order_goes_through), f"orders never went through again: {statuses}"
        assert 500 not in statuses

        last = int(placed[-1]["order_id"].removeprefix("order_"))

        async def balanced() -> bool:
            orders = await all_orders(client, last)
            settled = all(o["status"] != "Pending" for o in orders)
            return settled and await stock(client, BOOK) + sold(orders, BOOK) == START

        assert await eventually(balanced), "stock and confirmed orders never balanced"
