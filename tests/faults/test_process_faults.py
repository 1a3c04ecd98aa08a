"""Faults injected into the real system: declined payments, a down or frozen inventory, and kill -9.

After each, the books must balance: stock now + units in confirmed orders = starting stock, and
every order the shop acknowledged is still there.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import all_orders, eventually, order_body, sold, stock

FAST_RECOVERY = {
    "GATEWAY_BREAKER_RESET_SECONDS": "0.5",
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
    "INVENTORY_HOLD_TTL_SECONDS": "3",
    "INVENTORY_EXPIRY_SWEEP_SECONDS": "0.2",
}


async def test_a_declined_payment_stores_a_failed_order_and_leaves_stock_unchanged(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/orders", json=order_body("123", 5, token="tok_declined"))

    assert response.status_code == 402
    assert response.json()["error"] == "Payment declined"
    order = (await client.get(f"/api/orders/{response.json()['order_id']}")).json()
    assert (order["status"], order["payment_status"]) == ("Failed", "Declined")
    assert await stock(client, "123") == 50


async def test_inventory_down_gives_503_and_holds_nothing(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    system.stop("inventory")

    response = await client.post("/api/orders", json=order_body("123", 5))
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "error" in response.json()
    books = await client.get("/api/books/123")
    assert books.status_code == 503 and books.headers["retry-after"]

    system.start("inventory")
    assert await stock(client, "123") == 50
    assert (await client.get("/api/orders/order_1")).status_code == 404


@pytest.mark.system_env(SALES_REQUEST_TIMEOUT="0.5", GATEWAY_REQUEST_TIMEOUT="10", **FAST_RECOVERY)
async def test_a_frozen_inventory_gives_504_and_its_units_come_back(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    system.freeze("inventory")
    try:
        response = await client.post("/api/orders", json=order_body("123", 5))
    finally:
        system.thaw("inventory")

    assert response.status_code == 504
    assert "error" in response.json()
    # The hold reached inventory once it woke; the release (or the hold's TTL) gives the units back.
    assert await eventually(lambda: _stock_is(client, "123", 50))


@pytest.mark.system_env(GATEWAY_REQUEST_TIMEOUT="0.5")
async def test_the_gateway_answers_504_when_a_service_is_too_slow(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    system.freeze("inventory")
    try:
        response = await client.get("/api/books/123")
    finally:
        system.thaw("inventory")
    assert response.status_code == 504
    assert response.json()["error"] == "The inventory service did not answer in time"


@pytest.mark.system_env(**FAST_RECOVERY)
@pytest.mark.parametrize("victim", ["sales", "inventory"])
async def test_kill_9_mid_stream_loses_no_acknowledged_order_and_sells_no_unit_twice(
    client: httpx.AsyncClient, system: LocalSystem, victim: str
) -> None:
    acknowledged: list[dict[str, object]] = []
    statuses: list[int] = []
    enough = asyncio.Event()

    async def buyer() -> None:
        for _ in range(15):
            response = await client.post("/api/orders", json=order_body("123", 1))
            statuses.append(response.status_code)
            if response.status_code == 201:
                acknowledged.append(response.json())
                if len(acknowledged) == 10:
                    enough.set()

    async def assassin() -> None:
        await asyncio.wait_for(enough.wait(), timeout=60)
        system.kill(victim)  # mid-stream: other buyers' orders are between hold and commit

    await asyncio.gather(assassin(), *(buyer() for _ in range(6)))
    assert 500 not in statuses and set(statuses) <= {201, 503, 504}, statuses
    system.start(victim)

    for order in acknowledged:
        assert (await client.get(f"/api/orders/{order['order_id']}")).json() == order

    async def balanced() -> bool:
        orders = await all_orders(client, 200)
        settled = all(o["status"] in ("Confirmed", "Failed") for o in orders)
        return settled and await stock(client, "123") + sold(orders, "123") == 50

    assert await eventually(balanced), "stock and confirmed orders never balanced"


async def _stock_is(client: httpx.AsyncClient, book_id: str, expected: int) -> bool:
    return await stock(client, book_id) == expected
