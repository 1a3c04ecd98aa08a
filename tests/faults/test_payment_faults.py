"""A failing payment provider in the real system: the simulated provider fails 30% of charges and
hangs 20% past the call timeout while a few clients place a steady stream of orders.

Every answer is a contract status, never a 500, and the books balance once recovery has run:
stock now + units in confirmed orders = starting stock, and only acknowledged orders are sold.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.helpers import all_orders, eventually, order_body, sold, stock

FAST_RECOVERY = {
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
    "INVENTORY_HOLD_TTL_SECONDS": "3",
    "INVENTORY_EXPIRY_SWEEP_SECONDS": "0.2",
}
FLAKY_PAYMENTS = {
    "SALES_PAYMENT_FAILURE_RATE": "0.3",
    "SALES_PAYMENT_TIMEOUT_RATE": "0.2",
    "SALES_PAYMENT_TIMEOUT_SECONDS": "0.3",
    "SALES_PAYMENT_SEED": "2026",
    **FAST_RECOVERY,
}
CLIENTS, ORDERS_EACH = 4, 15  # 60 orders of one unit of book 123 (stock 50): about half succeed
BOOK, STARTING_STOCK = "123", 50


@pytest.mark.system_env(**FLAKY_PAYMENTS)
async def test_a_failing_payment_provider_never_gives_500_and_the_books_balance(
    client: httpx.AsyncClient,
) -> None:
    responses: list[httpx.Response] = []

    async def buyer(n: int) -> None:
        for i in range(ORDERS_EACH):
            token = "tok_declined" if (n + i) % 6 == 0 else "tok_visa"
            responses.append(await client.post("/api/orders", json=order_body(BOOK, 1, token=token)))

    await asyncio.wait_for(asyncio.gather(*(buyer(n) for n in range(CLIENTS))), timeout=120)

    statuses = [r.status_code for r in responses]
    print("statuses:", sorted(Counter(statuses).items()))
    assert len(statuses) == CLIENTS * ORDERS_EACH
    assert set(statuses) <= {201, 402, 503, 504}, statuses
    assert {201, 402, 503} <= set(statuses), statuses  # the faults did happen
    unavailable = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"].isdigit() for r in unavailable)
    assert {r.json()["error"] for r in unavailable} == {
        "Payment provider unavailable",
        "Payment provider did not answer in time",
    }

    orders: list[dict[str, Any]] = []

    async def settled_and_balanced() -> bool:
        orders[:] = await all_orders(client, CLIENTS * ORDERS_EACH + 5)
        if any(o["status"] == "Pending" for o in orders):
            return False
        return await stock(client, BOOK) + sold(orders, BOOK) == STARTING_STOCK

    assert await eventually(settled_and_balanced), "an order stayed Pending or stock and sales never balanced"

    acknowledged = {r.json()["order_id"]: r.json() for r in responses if r.status_code == 201}
    by_id = {o["order_id"]: o for o in orders}
    for order_id, body in acknowledged.items():
        assert by_id[order_id] == body
        assert (body["status"], body["payment_status"]) == ("Confirmed", "Paid")
    # Sold exactly what was acknowledged: a charge that failed or hung never became a sale.
    assert {o["order_id"] for o in orders if o["status"] == "Confirmed"} == set(acknowledged)
    for response in responses:
        if response.status_code == 402:
            order = by_id[response.json()["order_id"]]
            assert (order["status"], order["payment_status"]) == ("Failed", "Declined")
    failed = [o for o in orders if o["status"] == "Failed"]
    assert len(failed) == statuses.count(402) + len(unavailable)
    assert all(o["payment_status"] != "Paid" for o in failed)
    assert sold(orders, BOOK) == len(acknowledged)
    print("orders:", sorted(Counter((o["status"], o["payment_status"]) for o in orders).items()))
