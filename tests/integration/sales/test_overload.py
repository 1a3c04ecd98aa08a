"""A real sales service flooded past its bound sheds: 503 with Retry-After in the envelope for what it
cannot take at once, no other 5xx, and the books balance afterwards (the whole system as processes,
sales bounded to two orders in flight and two in line)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.system import LocalSystem
from shared.admission import OVERLOADED
from tests.helpers import all_orders, assert_envelope, order_body, sold, stock, user_client

FLOOD = 60  # orders at once, in each round
ROUNDS = 5  # at most; a round ends the test once something was shed
COPIES = 25  # book 789's stock in the seed catalog


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    env = {
        "SALES_MAX_IN_FLIGHT_WRITES": "2",
        "SALES_MAX_QUEUED": "2",
        "SALES_OVERLOAD_RETRY_AFTER_SECONDS": "3",
    }
    system = LocalSystem(tmp_path, env=env)
    try:
        system.start()
        yield system
    finally:
        system.close()


async def test_a_flooded_service_sheds_with_503_and_retry_after_and_the_books_balance(
    system: LocalSystem,
) -> None:
    responses: list[httpx.Response] = []
    async with user_client(system.url) as client:
        for _ in range(ROUNDS):
            responses += await asyncio.gather(
                *(client.post("/api/orders", json=order_body("789")) for _ in range(FLOOD))
            )
            if any(r.status_code == 503 for r in responses):
                break
        left = await stock(client, "789")
        stored = await all_orders(client)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 400, 503}, sorted(set(statuses))
    shed = [r for r in responses if r.status_code == 503]
    assert shed, "nothing was shed"
    for response in shed:
        assert_envelope(response, 503, OVERLOADED)
        assert response.headers["Retry-After"] == "3"
    confirmed = statuses.count(201)
    assert 0 < confirmed <= COPIES
    assert left == COPIES - confirmed
    assert sold(stored, "789") == confirmed
    assert len(stored) == confirmed  # a shed order left nothing behind


async def test_reads_are_not_shed_when_writes_are(system: LocalSystem) -> None:
    async with user_client(system.url) as client:
        flood = asyncio.gather(*(client.post("/api/orders", json=order_body("789")) for _ in range(FLOOD)))
        reads = await asyncio.gather(*(client.get("/api/orders?limit=1") for _ in range(10)))
        await flood

    assert [r.status_code for r in reads] == [200] * 10
