"""The Redis token bucket on a real redis-server: shared by gateway instances, expiring when idle,
and failing open when Redis is away."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.ratelimit import Decision, RedisRateLimiter
from tests.helpers import FakeClock, RedisServer, closed_port


@pytest.fixture
def prefix() -> str:
    return f"test-ratelimit-{uuid.uuid4().hex}:"


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client to look at the keys the limiter leaves behind."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def test_a_full_burst_is_allowed_and_the_next_request_is_refused(
    redis_server: RedisServer, prefix: str
) -> None:
    limiter = RedisRateLimiter.from_url(redis_server.url, prefix, rate=0.5, burst=3)

    burst = [await limiter.take("alice") for _ in range(3)]
    refused = await limiter.take("alice")
    other = await limiter.take("bob")
    await limiter.close()

    assert [(d.allowed, d.remaining) for d in burst] == [(True, 2), (True, 1), (True, 0)]
    assert not refused.allowed
    assert (refused.limit, refused.remaining) == (3, 0)
    # Two seconds a token, six to fill; a few milliseconds of refill may have passed meanwhile.
    assert 1.9 < refused.retry_after <= 2.0
    assert 5.9 < refused.reset_after <= 6.0
    assert other == Decision(allowed=True, limit=3, remaining=2, reset_after=2.0, retry_after=0.0)


async def test_a_request_may_cost_several_tokens(redis_server: RedisServer, prefix: str) -> None:
    limiter = RedisRateLimiter.from_url(redis_server.url, prefix, rate=0.01, burst=10)

    first = await limiter.take("alice", cost=4)
    too_dear = await limiter.take("alice", cost=7)
    rest = await limiter.take("alice", cost=6)
    await limiter.close()

    assert (first.allowed, first.remaining) == (True, 6)
    assert (too_dear.allowed, too_dear.remaining) == (False, 6)
    assert rest.allowed


async def test_two_gateway_instances_share_one_bucket(redis_server: RedisServer, prefix: str) -> None:
    one = RedisRateLimiter.from_url(redis_server.url, prefix, rate=0.01, burst=10)
    two = RedisRateLimiter.from_url(redis_server.url, prefix, rate=0.01, burst=10)

    decisions = await asyncio.gather(*(limiter.take("alice") for limiter in (one, two) for _ in range(10)))
    await one.close()
    await two.close()

    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_an_idle_bucket_expires_once_it_would_be_full(
    redis_server: RedisServer, prefix: str, raw: Redis
) -> None:
    limiter = RedisRateLimiter.from_url(redis_server.url, prefix, rate=10.0, burst=2)
    await limiter.take("alice")
    await limiter.take("alice")

    ttl = await raw.pttl(limiter.key("alice"))
    assert 0 < ttl <= 200  # two tokens at ten a second
    await asyncio.sleep(0.3)
    assert await raw.exists(limiter.key("alice")) == 0
    assert (await limiter.take("alice")).remaining == 1  # and it comes back full
    await limiter.close()


async def test_a_refused_request_leaves_the_bucket_as_it_was(
    redis_server: RedisServer, prefix: str, raw: Redis
) -> None:
    limiter = RedisRateLimiter.from_url(redis_server.url, prefix, rate=0.01, burst=1)
    await limiter.take("alice")
    saved = await raw.hgetall(limiter.key("alice"))

    for _ in range(5):
        assert not (await limiter.take("alice")).allowed

    assert await raw.hgetall(limiter.key("alice")) == saved
    await limiter.close()


async def test_redis_down_lets_requests_through_quickly(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter.from_url(
        f"redis://127.0.0.1:{closed_port()}/0", "test:", rate=1.0, burst=5, timeout=0.2
    )

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
        decisions = [await limiter.take("alice") for _ in range(20)]
    elapsed = time.monotonic() - started
    await limiter.close()

    assert all(d.allowed for d in decisions)
    assert decisions[0] == Decision(allowed=True, limit=5, remaining=4, reset_after=1.0, retry_after=0.0)
    assert elapsed < 1.0
    warnings = [r for r in caplog.records if r.name == "gateway.ratelimit"]
    assert len(warnings) == 1  # one warning, not one per request


async def test_a_client_with_long_timeouts_cannot_stall_a_request() -> None:
    # A listener that accepts connections and never answers: the worst kind of "down".
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = Redis(host="127.0.0.1", port=silent.getsockname()[1], socket_timeout=30)
        limiter = RedisRateLimiter(client, "test:", rate=1.0, burst=5, timeout=0.2)

        started = time.monotonic()
        decision = await limiter.take("alice")
        elapsed = time.monotonic() - started
        await limiter.close()

    assert decision.allowed
    assert elapsed < 1.0


async def test_limiting_resumes_when_redis_comes_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)  # its port is chosen, the server not started yet
    clock = FakeClock()
    limiter = RedisRateLimiter(
        Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.2),
        "test:",
        rate=0.01,
        burst=2,
        clock=clock,
    )
    try:
        assert (await limiter.take("alice")).allowed  # down: open
        server.start()
        # Redis is not asked again until a probe interval has passed: still open.
        assert all([(await limiter.take("alice")).allowed for _ in range(3)])

        clock.advance(1.0)
        assert [(await limiter.take("alice")).allowed for _ in range(3)] == [True, True, False]
    finally:
        await limiter.close()
        server.stop()
