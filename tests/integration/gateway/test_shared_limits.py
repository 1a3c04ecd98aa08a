"""Two gateway processes sharing one real redis-server hold one limit between them: the rate limit
per principal, the brake per client and the global ceiling on failed authentications are counted
once, not once per gateway. (No service answers behind them: an admitted request is 503.)"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.launch import ProcessSpec, free_port_block, start, stop, wait_healthy
from tests.helpers import AUTH, RedisServer, closed_port

BURST = 6  # of every limit below; refills are too slow to matter within a test
BAD = {"Authorization": "Bearer not-a-token"}


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[str]]:
    """The URLs of two gateways on one fresh redis-server, as the compose stack runs them."""
    redis = RedisServer(tmp_path)
    redis.start()
    nowhere = f"http://127.0.0.1:{closed_port()}"
    port = free_port_block(2)
    env = {
        "GATEWAY_RATE_LIMIT_REDIS_URL": redis.url,
        "GATEWAY_RATE_LIMIT_PER_SECOND": "0.001",
        "GATEWAY_RATE_LIMIT_BURST": str(BURST),
        "GATEWAY_AUTH_FAILURES_PER_SECOND": "0.001",
        "GATEWAY_AUTH_FAILURES_BURST": str(BURST),
        "GATEWAY_AUTH_FAILURES_GLOBAL_PER_SECOND": "0.001",
        "GATEWAY_AUTH_FAILURES_GLOBAL_BURST": str(2 * BURST),
        "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]',
        "GATEWAY_INVENTORY_URL": nowhere,
        "GATEWAY_SALES_URL": nowhere,
        "GATEWAY_DELIVERY_URL": nowhere,
    }
    specs = [
        ProcessSpec(f"gateway-{n}", "gateway", port + n, {"GATEWAY_PORT": str(port + n)}) for n in (0, 1)
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for spec in specs:
            processes.append(start(spec, env=env, output=(tmp_path / f"{spec.name}.log").open("ab")))
            wait_healthy(spec, processes[-1])
        yield [spec.url for spec in specs]
    finally:
        for process in processes:
            stop(process)
        redis.stop()


def alternating(urls: list[str], count: int) -> Iterator[str]:
    return itertools.islice(itertools.cycle(urls), count)


def test_one_principal_gets_one_burst_across_both_gateways(gateways: list[str]) -> None:
    statuses = [
        httpx.get(f"{url}/api/books", headers=AUTH, timeout=10).status_code
        for url in alternating(gateways, 2 * BURST)
    ]

    assert statuses.count(429) == BURST, statuses
    assert statuses[BURST:] == [429] * BURST


def test_one_client_gets_one_brake_across_both_gateways(gateways: list[str]) -> None:
    headers = BAD | {"X-Forwarded-For": "2001:db8::1"}
    statuses = [
        httpx.get(f"{url}/api/books", headers=headers, timeout=10).status_code
        for url in alternating(gateways, 2 * BURST)
    ]

    assert statuses == [401] * BURST + [429] * BURST


def test_the_global_ceiling_is_one_for_both_gateways(gateways: list[str]) -> None:
    statuses = [
        httpx.get(
            f"{url}/api/books", headers=BAD | {"X-Forwarded-For": f"192.0.2.{n}"}, timeout=10
        ).status_code
        for n, url in enumerate(alternating(gateways, 4 * BURST), start=1)
    ]

    assert statuses == [401] * (2 * BURST) + [429] * (2 * BURST)
