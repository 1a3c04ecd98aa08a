"""The JSON store under kill -9, again and again: a burst of concurrent orders, the service killed
in the middle of it, restarted on the same data directory, and so on for a bounded number of rounds.

After every restart the journal opens (the process becomes healthy), every order the shop
acknowledged reads back exactly as acknowledged, and no order id is ever handed out twice; once
recovery has run, stock + units in confirmed orders = starting stock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devtools.system import LocalSystem
from tests.helpers import all_orders, eventually, order_body, sold, stock

FAST_RECOVERY = {
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
    "INVENTORY_HOLD_TTL_SECONDS": "3",
    "INVENTORY_EXPIRY_SWEEP_SECONDS": "0.2",
}
BOOK = "123"
ADDED_STOCK = 1000  # enough for every round's orders: none is refused for want of stock
CLIENTS, ORDERS_EACH = 5, 12  # a burst: at most 60 orders
KILL_AFTER = 6  # acknowledged orders in the burst before the kill: the others are in flight
BURST_BOUND = 90.0  # seconds; only a hang can take this long
# Callers' circuit breakers fail fast for a while after the kill; let them probe again soon.
ENV = {**FAST_RECOVERY, "GATEWAY_BREAKER_RESET_SECONDS": "1", "SALES_BREAKER_RESET_SECONDS": "1"}


@dataclass
class Ledger:
    """What the clients were told: the orders acknowledged (201 and 402) and every status seen."""

    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> the 201 body
    declined: list[str] = field(default_factory=list)  # order ids of 402s: stored as Failed
    ids: list[str] = field(default_factory=list)  # every order id handed out, in the order seen
    statuses: Counter[int] = field(default_factory=Counter)
    in_flight: Counter[int] = field(default_factory=Counter)  # answers to orders sent before a kill

    def record(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code in (201, 402):
            order_id = response.json()["order_id"]
            self.ids.append(order_id)
            if response.status_code == 201:
                self.confirmed[order_id] = response.json()
            else:
                self.declined.append(order_id)


async def burst_then_kill(
    client: httpx.AsyncClient, system: LocalSystem, victim: str, ledger: Ledger
) -> None:
    """CLIENTS buyers place orders until KILL_AFTER are acknowledged; then `victim` gets kill -9
    while the others' orders are in flight, and each buyer stops after its current order."""
    acknowledged = 0
    enough, killed = asyncio.Event(), asyncio.Event()

    async def buyer(n: int) -> None:
        nonlocal acknowledged
        for i in range(ORDERS_EACH):
            if killed.is_set():
                return
            token = "tok_declined" if (n + i) % 5 == 4 else "tok_visa"
            response = await client.post("/api/orders", json=order_body(BOOK, 1 + i % 2, token=token))
            ledger.record(response)
            if killed.is_set():
                ledger.in_flight[response.status_code] += 1
            if response.status_code == 201:
                acknowledged += 1
                if acknowledged >= KILL_AFTER:
                    enough.set()

    async def assassin() -> None:
        await enough.wait()
        system.kill(victim)
        killed.set()

    killer = asyncio.create_task(assassin())
    await asyncio.wait_for(asyncio.gather(*(buyer(n) for n in range(CLIENTS))), BURST_BOUND)
    if not enough.is_set():
        killer.cancel()
    assert enough.is_set(), f"only {acknowledged} orders acknowledged before the burst ended"
    await killer


async def restart(client: httpx.AsyncClient, system: LocalSystem, victim: str, ledger: Ledger) -> None:
    """Start `victim` on its data directory again and wait until the shop sells again (callers'
    breakers still fail fast for a moment); the probing orders are recorded like any other."""
    system.start(victim)  # raises unless the journal opens and the process answers /healthz

    async def sells() -> bool:
        response = await client.post("/api/orders", json=order_body(BOOK, 1))
        ledger.record(response)
        return response.status_code == 201

    assert await eventually(sells, within=30), f"the shop never sold again after {victim} restarted"


async def assert_acknowledged_orders_intact(client: httpx.AsyncClient, ledger: Ledger) -> None:
    assert len(ledger.ids) == len(set(ledger.ids)), f"an order id was handed out twice: {ledger.ids}"
    for order_id, body in ledger.confirmed.items():
        response = await client.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        assert response.json() == body
    for order_id in ledger.declined:
        order = (await client.get(f"/api/orders/{order_id}")).json()
        assert (order["status"], order["payment_status"]) == ("Failed", "Declined")


async def assert_books_balance(client: httpx.AsyncClient, ledger: Ledger, starting_stock: int) -> None:
    up_to = max(int(i.removeprefix("order_")) for i in ledger.ids) + CLIENTS * ORDERS_EACH

    async def settled_and_balanced() -> bool:
        orders = await all_orders(client, up_to)
        if any(o["status"] == "Pending" for o in orders):
            return False
        return await stock(client, BOOK) + sold(orders, BOOK) == starting_stock

    assert await eventually(settled_and_balanced), "an order stayed Pending or stock and sales never balanced"


async def add_stock(client: httpx.AsyncClient) -> int:
    response = await client.post(f"/api/books/{BOOK}/stock", json={"delta": ADDED_STOCK})
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


@pytest.mark.system_env(**ENV)
async def test_sales_killed_mid_burst_eight_times_keeps_every_acknowledged_order(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    starting_stock = await add_stock(client)
    ledger = Ledger()

    for _ in range(8):
        await burst_then_kill(client, system, "sales", ledger)
        await restart(client, system, "sales", ledger)
        await assert_acknowledged_orders_intact(client, ledger)

    print(f"statuses {sorted(ledger.statuses.items())}, at the kills {sorted(ledger.in_flight.items())}")
    assert set(ledger.statuses) <= {201, 402, 503, 504}, ledger.statuses
    assert len(ledger.confirmed) >= 8 * KILL_AFTER
    await assert_books_balance(client, ledger, starting_stock)
    await assert_acknowledged_orders_intact(client, ledger)  # recovery changed no acknowledged order


@pytest.mark.system_env(**ENV)
async def test_inventory_killed_mid_burst_four_times_loses_no_unit(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    starting_stock = await add_stock(client)
    ledger = Ledger()

    for _ in range(4):
        await burst_then_kill(client, system, "inventory", ledger)
        await restart(client, system, "inventory", ledger)
        await assert_acknowledged_orders_intact(client, ledger)

    print(f"statuses {sorted(ledger.statuses.items())}, at the kills {sorted(ledger.in_flight.items())}")
    assert set(ledger.statuses) <= {201, 402, 503, 504}, ledger.statuses
    await assert_books_balance(client, ledger, starting_stock)
    await assert_acknowledged_orders_intact(client, ledger)
