"""Fixtures of the gateway's integration tests: three fake services on loopback and the gateway in
front of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.gateway.fake_services import (
    FakeService,
    running_gateway,
    settings_for,
)


@pytest.fixture
async def services() -> AsyncIterator[dict[str, FakeService]]:
    fakes = {name: FakeService(name) for name in ("inventory", "sales", "delivery")}
    try:
        for fake in fakes.values():
            await fake.start()
        yield fakes
    finally:
        for fake in fakes.values():
            await fake.close()


@pytest.fixture
def inventory(services: dict[str, FakeService]) -> FakeService:
    return services["inventory"]


@pytest.fixture
async def gateway(services: dict[str, FakeService]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(settings_for(services)) as client:
        yield client
