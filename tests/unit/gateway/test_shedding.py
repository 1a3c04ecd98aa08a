"""The gateway sheds too: past its bound on writes in flight (and an empty line), an order is 503
with Retry-After in the envelope before it is forwarded; reads and health go on."""

from __future__ import annotations

import asyncio

import httpx

from gateway.settings import GatewaySettings
from shared.admission import OVERLOADED
from tests.helpers import AUTH, assert_envelope, order_body
from tests.unit.gateway.in_process import running_gateway


class HeldSales:
    """Sales answering each order only once the test lets it go, counting what it got."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.orders = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.orders += 1
            self.arrived.set()
            await self.release.wait()
            return httpx.Response(201, json={"order_id": "order_1"})
        return httpx.Response(200, json={})

    def instance(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler), base_url="http://sales")


async def test_an_order_past_the_gateways_bound_is_503_with_retry_after_and_never_forwarded() -> None:
    sales = HeldSales()
    bounded = GatewaySettings(max_in_flight_writes=1, max_queued=0, overload_retry_after_seconds=4)
    async with running_gateway(bounded, headers=AUTH, sales=sales.instance()) as client:
        first = asyncio.create_task(client.post("/api/orders", json=order_body()))
        await sales.arrived.wait()
        refused = await client.post("/api/orders", json=order_body())
        read = await client.get("/api/orders")
        health = await client.get("/healthz")
        sales.release.set()
        admitted = await first

    assert_envelope(refused, 503, OVERLOADED)
    assert refused.headers["retry-after"] == "4"
    assert sales.orders == 1
    assert admitted.status_code == 201
    assert (read.status_code, health.status_code) == (200, 200)
