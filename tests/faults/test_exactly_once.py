"""Issue 14, "Exactly once", on the real system: each order placed once, each unit sold once,
through large totals, retries, recovery beside a live saga and a deploy's restart."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devtools.system import LocalSystem
from tests.faults.latency_proxy import LatencyProxy
from tests.helpers import RedisServer, all_orders, assert_envelope, eventually, order_body, stock, user_client

FAST_RECOVERY = {
    "SALES_RECOVERY_GRACE_SECONDS": "1",
    "SALES_RECOVERY_INTERVAL_SECONDS": "0.2",
}

PRICIEST = 1_000_000  # the most a book may cost


def isbn13(n: int) -> str:
    digits = f"978{n:09d}"
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10) % 10
    return f"{digits}{check}"


async def charges(system: LocalSystem) -> float:
    """Charges the sales instances have taken (approved), from their /metrics."""
    total = 0.0
    async with httpx.AsyncClient() as direct:
        for name in [n for n in system.specs if n.startswith("sales")]:
            text = (await direct.get(f"{system.service_url(name)}/metrics")).text
            total += sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("payments_total{") and 'operation="charge"' in line and "approved" in line
            )
    return total


@pytest.mark.parametrize("system", ["json", "redis"], indirect=True)
async def test_an_order_over_the_most_money_can_carry_is_400_and_nothing_is_held_or_charged(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    """Scenario 3: ten lines of 1000 books at 1,000,000 make 10^10, one cent over what money holds."""
    for n in range(10):
        book = {"id": f"dear{n}", "title": "Dear", "author": "A", "price": PRICIEST, "stock": 1000}
        added = await client.post("/api/books", json={**book, "isbn": isbn13(n)})
        assert added.status_code == 201, added.text
    order: dict[str, Any] = {
        "customer_id": "cust_001",
        "books": [{"book_id": f"dear{n}", "quantity": 1000} for n in range(10)],
        "payment_method": "credit_card",
        "payment_token": "tok_visa",
    }

    response = await client.post("/api/orders", json=order, headers={"Idempotency-Key": "big"})

    body = assert_envelope(response, 400)
    assert body["details"][0]["field"] == "total"
    for n in range(10):
        assert (await client.get(f"/api/books/dear{n}")).json()["stock"] == 1000
    assert await all_orders(client) == []
    assert await charges(system) == 0


@pytest.fixture
async def relayed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[LocalSystem, LatencyProxy]]:
    """The system on the JSON store (or, parametrized indirectly with "redis", two instances of every
    service on a flushed real Redis) with a relay between sales and inventory that the test can make
    hold back sales' calls."""
    marker = request.node.get_closest_marker("system_env")
    env = {**FAST_RECOVERY, **(marker.kwargs if marker else {})}
    if getattr(request, "param", "json") == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        redis.Redis.from_url(server.url).flushall()
        system = LocalSystem(tmp_path, env=env, store="redis", instances=2, redis_url=server.url)
    else:
        system = LocalSystem(tmp_path, env=env)
    proxy = LatencyProxy(system.specs["inventory"].port)
    await proxy.start()
    for spec in system.specs.values():
        if "SALES_INVENTORY_URL" in spec.env:
            spec.env["SALES_INVENTORY_URL"] = proxy.url
    try:
        await asyncio.to_thread(system.start)
        yield system, proxy
    finally:
        await asyncio.to_thread(system.close)
        await proxy.stop()


async def post_order(client: httpx.AsyncClient, key: str, quantity: int = 3) -> httpx.Response:
    return await client.post(
        "/api/orders", json=order_body("123", quantity), headers={"Idempotency-Key": key}
    )


@pytest.mark.system_env(SALES_REQUEST_TIMEOUT="60", GATEWAY_REQUEST_TIMEOUT="60")
async def test_a_deploy_cutting_a_slow_commit_never_makes_a_second_order_for_one_key(
    relayed: tuple[LocalSystem, LatencyProxy],
) -> None:
    """Scenario 1: the commit is slow, sales gets SIGTERM; after uvicorn's 10 s graceful timeout
    the request is cut. On main the key was released and the retry placed (and charged) a second
    order; here the answer is 503 with the order id and the retry gets that order, confirmed."""
    system, proxy = relayed
    proxy.hold_back(b"/commit", 30.0)
    async with user_client(system.url, timeout=60) as client:
        placing = asyncio.create_task(post_order(client, "deploy"))
        assert await eventually(lambda: _held(proxy)), "the commit never reached the relay"
        os.kill(system.processes["sales"].pid, signal.SIGTERM)
        cut = await placing
        assert await asyncio.to_thread(system.processes["sales"].wait, 60) == 0
        await asyncio.to_thread(system.start, "sales")

        assert cut.status_code == 503, cut.text
        assert cut.json()["order_id"] == "order_1"

        async def retried_to_the_end() -> bool:
            return (await post_order(client, "deploy")).status_code == 201

        assert await eventually(retried_to_the_end, within=60)
        again = await post_order(client, "deploy")
        assert (again.json()["order_id"], again.json()["status"]) == ("order_1", "Confirmed")
        assert [o["order_id"] for o in await all_orders(client)] == ["order_1"]
        assert await stock(client, "123") == 47


async def _held(proxy: LatencyProxy) -> bool:
    return not proxy.held_back  # the one delay was used: the commit is on its way, slowly


@pytest.mark.parametrize("relayed", ["json", "redis"], indirect=True)
@pytest.mark.system_env(SALES_REQUEST_TIMEOUT="30")
async def test_recovery_beside_a_late_saga_never_reverts_a_shipped_order(
    relayed: tuple[LocalSystem, LatencyProxy],
) -> None:
    """Scenario 2: the saga's commit outlasts its lease, recovery takes the order (read Paid) and
    commits too, slower; meanwhile the saga confirms and delivery ships. On main recovery's late
    write turned Shipped back into Confirmed (and a cancel then refunded a shipped parcel)."""
    system, proxy = relayed
    proxy.hold_back(b"/commit", 3.0, 10.0)  # the saga's commit, then recovery's
    async with user_client(system.url, timeout=60) as client:
        placed = await post_order(client, "ship", quantity=5)
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        assert await eventually(lambda: _held(proxy)), "recovery never sent its commit"
        delivery = await client.post("/api/deliveries", json={"order_id": order_id, "address": "1 Main St"})
        assert delivery.status_code == 201, delivery.text
        delivery_id = delivery.json()["delivery_id"]
        moved = await client.patch(f"/api/deliveries/{delivery_id}", json={"status": "Shipped"})
        assert moved.status_code == 200, moved.text
        assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "Shipped"
        answers = proxy.answers

        async def recovery_answered() -> bool:  # its held commit went on and inventory answered it
            return proxy.forwarded == proxy.chunks and proxy.answers > answers

        assert await eventually(recovery_answered, within=30)
        for _ in range(10):  # recovery's compare-and-set runs right after the answer (main: it wrote)
            assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "Shipped"
            await asyncio.sleep(0.2)
        cancel = await client.post(f"/api/orders/{order_id}/cancel")
        assert cancel.status_code == 409, cancel.text
        assert await stock(client, "123") == 45


@pytest.mark.parametrize("relayed", ["json", "redis"], indirect=True)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
@pytest.mark.system_env(SALES_REQUEST_TIMEOUT="60", GATEWAY_REQUEST_TIMEOUT="60")
async def test_a_client_retrying_one_key_through_a_restart_of_sales_gets_exactly_one_order(
    relayed: tuple[LocalSystem, LatencyProxy], stop: signal.Signals
) -> None:
    """A client retries with one key (on any answer but 201) while sales is stopped mid-commit
    (a deploy's SIGTERM, or kill -9: scenario 6, where main left the key "running" and placed a
    second order a minute later) and started again; on Redis each of the two instances in turn
    (a rolling deploy), the other answering the retries meanwhile."""
    system, proxy = relayed
    proxy.hold_back(b"/commit", 30.0)
    statuses: list[int] = []
    async with user_client(system.url, timeout=60) as client:

        async def retry_until_placed() -> dict[str, Any]:
            for _ in range(300):  # bounded: 300 tries, 0.2 s apart
                try:
                    response = await post_order(client, "restart")
                except httpx.TransportError:
                    response = None
                if response is not None:
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        placed: dict[str, Any] = response.json()
                        return placed
                await asyncio.sleep(0.2)
            raise AssertionError(f"never placed: {statuses[-5:]}")

        retrying = asyncio.create_task(retry_until_placed())
        assert await eventually(lambda: _held(proxy)), "the commit never reached the relay"
        for name in [n for n in system.specs if n.startswith("sales")]:  # a rolling deploy
            os.kill(system.processes[name].pid, stop)
            exit_code = await asyncio.to_thread(system.processes[name].wait, 60)
            assert exit_code == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
            await asyncio.to_thread(system.start, name)
        placed = await retrying

        assert (placed["order_id"], placed["status"]) == ("order_1", "Confirmed")
        assert set(statuses) <= {201, 409, 502, 503, 504}, statuses
        assert [o["order_id"] for o in await all_orders(client)] == ["order_1"]
        assert await stock(client, "123") == 47


@pytest.mark.parametrize("system", ["json", "redis"], indirect=True)
@pytest.mark.system_env(SALES_REQUEST_TIMEOUT="1", GATEWAY_REQUEST_TIMEOUT="30")
async def test_a_retry_after_inventory_was_frozen_places_the_order(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    """Scenario 4: on main the first 503/504 was replayed to every retry with the key for 24 h."""
    inventories = [name for name in system.specs if name.startswith("inventory")]
    for name in inventories:
        system.freeze(name)
    try:
        first = await post_order(client, "frozen")
    finally:
        for name in inventories:
            system.thaw(name)

    async def placed() -> bool:
        return (await post_order(client, "frozen")).status_code == 201

    assert first.status_code in (503, 504), first.text
    assert await eventually(placed, within=30)
    assert len(await all_orders(client)) == 1

    async def balanced() -> bool:  # the first attempt's hold, if it landed, ends released or expired
        return await stock(client, "123") == 47

    assert await eventually(balanced, within=90), await stock(client, "123")


async def test_with_the_store_down_a_request_with_a_key_is_503_never_500(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """Scenario 6: on main the idempotency middleware's store error escaped the error handler."""
    env = {"SALES_REQUEST_TIMEOUT": "2", "DELIVERY_REQUEST_TIMEOUT": "2", "GATEWAY_REQUEST_TIMEOUT": "10"}
    system = LocalSystem(tmp_path, env=env, store="redis", instances=2, redis_url=own_redis.url)
    try:
        await asyncio.to_thread(system.start)
        async with user_client(system.url) as client:
            own_redis.stop()
            order = await post_order(client, "down")
            delivery = await client.post(
                "/api/deliveries",
                json={"order_id": "order_1", "address": "1 Main St"},
                headers={"Idempotency-Key": "down"},
            )
    finally:
        await asyncio.to_thread(system.close)

    assert_envelope(order, 503)
    assert_envelope(delivery, 503)
