"""Delivery never contradicts sales (issue 14, scenario 5): delivery's calls to sales go through a
relay that loses sales' answer to a Shipped move (sales applied it) and then keeps sales unreachable
for longer than the claim that move took; on the JSON store, and on Redis with two instances of
every service (a relay in front of each sales instance). A staff cancel of the delivery meanwhile
is refused; once sales is back the delivery ends Shipped, like its order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis

from devtools.system import LocalSystem
from tests.faults.latency_proxy import LatencyProxy
from tests.helpers import RedisServer, eventually, order_body, user_client

CLAIM_SECONDS = 1.0  # DELIVERY_MOVE_CLAIM_SECONDS: on main a claim lapsed after this
ENV = {
    "DELIVERY_MOVE_CLAIM_SECONDS": str(int(CLAIM_SECONDS)),
    "DELIVERY_MOVE_RETRY_INTERVAL_SECONDS": "0.2",
    "DELIVERY_BREAKER_RESET_SECONDS": "0.5",
}


class Relays:
    """One relay in front of each sales instance, set all at once."""

    def __init__(self, relays: list[LatencyProxy]) -> None:
        self.all = relays

    def set(self, *, drop_answers: bool, refuse: bool) -> None:
        for relay in self.all:
            relay.drop_answers, relay.refuse = drop_answers, refuse

    @property
    def connections(self) -> int:
        return sum(relay.connections for relay in self.all)


@pytest.fixture(params=["json", "redis"])
async def relayed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[LocalSystem, Relays]]:
    """The whole system (JSON; or Redis with two instances of every service), with delivery's calls
    to sales (only those) going through the relays."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        redis.Redis.from_url(server.url).flushall()
        system = LocalSystem(tmp_path, env=ENV, store="redis", instances=2, redis_url=server.url)
    else:
        system = LocalSystem(tmp_path, env=ENV)
    sales = [spec for name, spec in system.specs.items() if name.startswith("sales")]
    deliveries = [name for name in system.specs if name.startswith("delivery")]
    relays = Relays([LatencyProxy(spec.port) for spec in sales])
    failed = True
    try:
        await asyncio.to_thread(system.start)
        for relay in relays.all:
            await relay.start()  # only now can its port be none of the processes'
        for name in deliveries:
            await asyncio.to_thread(system.stop, name)
            system.specs[name].env["DELIVERY_SALES_URL"] = ",".join(relay.url for relay in relays.all)
            await asyncio.to_thread(system.start, name)
        yield system, relays
        failed = False
    finally:
        await asyncio.to_thread(system.close)
        for relay in relays.all:
            await relay.stop()
        if failed:
            for name in system.processes:
                print(f"----- {name} log (tail) -----\n{system.log(name)[-3000:]}")


async def status_of(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def test_a_lost_shipped_answer_blocks_a_staff_cancel_until_sales_answers(
    relayed: tuple[LocalSystem, Relays],
) -> None:
    system, relays = relayed
    async with user_client(system.url) as client:
        placed = await client.post("/api/orders", json=order_body("123", 1))
        assert placed.status_code == 201, placed.text
        order = f"/api/orders/{placed.json()['order_id']}"
        scheduled = await client.post(
            "/api/deliveries", json={"order_id": placed.json()["order_id"], "address": "1 Main St"}
        )
        assert scheduled.status_code == 201, scheduled.text
        delivery = f"/api/deliveries/{scheduled.json()['delivery_id']}"

        relays.set(drop_answers=True, refuse=False)
        lost = await client.patch(delivery, json={"status": "Shipped"})
        assert lost.status_code in (503, 504), lost.text
        assert await status_of(client, order) == "Shipped"  # sales applied it; delivery cannot know
        assert await status_of(client, delivery) == "Pending"

        relays.set(drop_answers=True, refuse=True)  # sales unreachable, for longer than the claim
        tried = relays.connections
        await asyncio.sleep(CLAIM_SECONDS + 1.0)

        async def asked_again() -> bool:
            return relays.connections > tried

        assert await eventually(asked_again), "delivery never asked sales again"
        cancel = await client.patch(delivery, json={"status": "Cancelled"})
        assert cancel.status_code == 409, cancel.text
        assert cancel.json()["error"].endswith("is being moved to Shipped; try again later")
        assert await status_of(client, delivery) == "Pending"

        relays.set(drop_answers=False, refuse=False)

        async def shipped() -> bool:
            return await status_of(client, delivery) == "Shipped"

        assert await eventually(shipped), "the delivery never followed its order to Shipped"
        assert await status_of(client, order) == "Shipped"
        late_cancel = await client.patch(delivery, json={"status": "Cancelled"})
        assert late_cancel.status_code == 409, late_cancel.text
        assert late_cancel.json()["error"] == "Cannot change delivery status from Shipped to Cancelled"
        history = (await client.get(delivery)).json()["history"]
        assert [change["status"] for change in history] == ["Pending", "Shipped"]
