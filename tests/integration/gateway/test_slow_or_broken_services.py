"""A service slower than the request timeout (504), gone (503), failing its health check (readyz),
and a service of several instances: turns taken, one down skipped, all down 503."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import closed_port
from tests.integration.gateway.fake_services import (
    Answer,
    FakeService,
    running_gateway,
    settings_for,
)

# --- a slow or broken service -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "service"), [("/api/books", "inventory"), ("/api/orders", "sales")])
async def test_a_service_slower_than_the_request_timeout_is_504(
    services: dict[str, FakeService], path: str, service: str
) -> None:
    services[service].reply = lambda _: Answer(delay=3.0)

    async with running_gateway(settings_for(services, request_timeout=0.3)) as gateway:
        started = time.perf_counter()
        response = await gateway.get(path)
        elapsed = time.perf_counter() - started

    assert response.status_code == 504
    body = response.json()
    assert body == {
        "error": f"The {service} service did not answer in time",
        "request_id": response.headers["x-request-id"],
    }
    assert response.headers["content-type"] == "application/json"
    assert elapsed < 2.0


async def test_a_service_answering_within_the_timeout_is_not_504(services: dict[str, FakeService]) -> None:
    services["inventory"].reply = lambda _: Answer(delay=0.05)

    async with running_gateway(settings_for(services, request_timeout=1.0)) as gateway:
        response = await gateway.get("/api/books")

    assert response.status_code == 200


async def test_a_service_that_went_away_is_503_naming_it(services: dict[str, FakeService]) -> None:
    async with running_gateway(settings_for(services)) as gateway:
        await services["delivery"].close()
        response = await gateway.get("/api/deliveries/del_1")

    assert response.status_code == 503
    assert response.json()["error"] == "The delivery service is unavailable"
    assert response.headers["retry-after"]


async def test_readyz_is_ready_when_every_service_answers(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/readyz")

    assert response.status_code == 200, response.text


async def test_readyz_names_only_the_service_that_fails_its_health_check(
    gateway: httpx.AsyncClient, services: dict[str, FakeService]
) -> None:
    services["sales"].reply = lambda _: Answer(500, b'{"error": "down"}')

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    assert [item["component"] for item in response.json()["details"]] == ["sales"]


# --- several instances of a service ---------------------------------------------------------------


async def test_requests_take_turns_over_a_services_instances(services: dict[str, FakeService]) -> None:
    second = FakeService("inventory")
    await second.start()
    try:
        settings = settings_for(services)
        settings.inventory_url = f"{services['inventory'].url},{second.url}"
        async with running_gateway(settings) as gateway:
            for _ in range(6):
                assert (await gateway.get("/api/books")).status_code == 200
        assert (len(services["inventory"].api_requests), len(second.api_requests)) == (3, 3)
    finally:
        await second.close()


async def test_an_instance_that_is_down_is_skipped_even_for_a_post(services: dict[str, FakeService]) -> None:
    settings = settings_for(services)
    settings.sales_url = f"http://127.0.0.1:{closed_port()},{services['sales'].url}"
    async with running_gateway(settings) as gateway:
        statuses = [(await gateway.post("/api/orders", json={"n": n})).status_code for n in range(4)]

    assert statuses == [200] * 4
    assert [r.body for r in services["sales"].api_requests] == [b'{"n":%d}' % n for n in range(4)]


async def test_every_instance_down_is_503(services: dict[str, FakeService]) -> None:
    settings = settings_for(services)
    settings.delivery_url = f"http://127.0.0.1:{closed_port()},http://127.0.0.1:{closed_port()}"
    async with running_gateway(settings) as gateway:
        response = await gateway.get("/api/deliveries/del_1")

    assert response.status_code == 503
    assert response.json()["error"] == "The delivery service is unavailable"
    assert response.headers["retry-after"]
