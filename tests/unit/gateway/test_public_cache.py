"""What the public reaches without a token through nginx, /readyz and /openapi.json, does not fan out
to every service on each call: a crowd asking costs each service one call per period."""

from __future__ import annotations

import asyncio

import httpx

from gateway.settings import GatewaySettings
from tests.unit.fake_instances import instance
from tests.unit.gateway.in_process import SERVICES, running_gateway

CROWD = 30
FOREVER = GatewaySettings(public_cache_seconds=3600)  # no test outlives the period


def counting(seen: list[str], status: int = 200) -> dict[str, httpx.AsyncClient]:
    """Every service as one instance that notes each call it gets in `seen`."""
    return {name: instance(name, seen, status=status) for name in SERVICES}


async def test_a_crowd_asking_readyz_costs_each_service_one_health_check() -> None:
    seen: list[str] = []
    async with running_gateway(FOREVER, **counting(seen)) as anonymous:
        together = await asyncio.gather(*(anonymous.get("/readyz") for _ in range(CROWD)))
        one_by_one = [await anonymous.get("/readyz") for _ in range(CROWD)]

    assert {r.status_code for r in together + one_by_one} == {200}
    assert sorted(seen) == sorted(SERVICES)


async def test_a_crowd_asking_readyz_while_a_service_is_down_costs_it_one_call() -> None:
    seen: list[str] = []
    async with running_gateway(FOREVER, **counting(seen, status=500)) as anonymous:
        answers = await asyncio.gather(*(anonymous.get("/readyz") for _ in range(CROWD)))

    assert {r.status_code for r in answers} == {503}
    assert {r.headers["retry-after"] for r in answers} == {"1"}
    assert sorted(seen) == sorted(SERVICES)


async def test_a_crowd_asking_an_incomplete_description_costs_each_service_one_call() -> None:
    seen: list[str] = []
    async with running_gateway(FOREVER, **counting(seen, status=500)) as anonymous:
        together = await asyncio.gather(*(anonymous.get("/openapi.json") for _ in range(CROWD)))
        one_by_one = [await anonymous.get("/openapi.json") for _ in range(CROWD)]

    assert {r.status_code for r in together + one_by_one} == {503}
    assert sorted(seen) == sorted(SERVICES)


async def test_with_no_period_every_readyz_asks_every_service() -> None:
    seen: list[str] = []
    async with running_gateway(GatewaySettings(public_cache_seconds=0), **counting(seen)) as anonymous:
        for _ in range(3):
            await anonymous.get("/readyz")

    assert len(seen) == 3 * len(SERVICES)
