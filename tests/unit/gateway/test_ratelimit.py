"""The in-memory token bucket on a fake clock: bursts, refill, exact numbers, headers, bounded memory."""

from __future__ import annotations

import pytest

from gateway.ratelimit import Decision, MemoryRateLimiter, headers
from tests.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_a_full_burst_is_allowed_and_the_next_request_waits_for_one_token(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=2.0, burst=5, clock=clock)

    burst = [await limiter.take("alice") for _ in range(5)]
    refused = await limiter.take("alice")

    assert all(d.allowed for d in burst)
    assert [d.remaining for d in burst] == [4, 3, 2, 1, 0]
    assert refused == Decision(allowed=False, limit=5, remaining=0, reset_after=2.5, retry_after=0.5)


async def test_tokens_come_back_at_the_rate(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=2.0, burst=5, clock=clock)
    for _ in range(5):
        await limiter.take("alice")

    clock.advance(0.25)  # half a token: still refused, a quarter second to go
    assert await limiter.take("alice") == Decision(
        allowed=False, limit=5, remaining=0, reset_after=2.25, retry_after=0.25
    )
    clock.advance(0.25)  # one token
    assert await limiter.take("alice") == Decision(
        allowed=True, limit=5, remaining=0, reset_after=2.5, retry_after=0.0
    )
    assert not (await limiter.take("alice")).allowed
    clock.advance(1.0)  # two tokens
    assert [(await limiter.take("alice")).allowed for _ in range(3)] == [True, True, False]


async def test_the_bucket_never_holds_more_than_the_burst(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=2.0, burst=5, clock=clock)
    await limiter.take("alice")

    clock.advance(3600)

    assert await limiter.take("alice") == Decision(
        allowed=True, limit=5, remaining=4, reset_after=0.5, retry_after=0.0
    )


async def test_keys_have_their_own_buckets(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=2, clock=clock)
    for _ in range(2):
        await limiter.take("alice")

    assert not (await limiter.take("alice")).allowed
    assert [(await limiter.take("bob")).allowed for _ in range(3)] == [True, True, False]


async def test_a_client_retrying_every_second_gets_its_token_on_time(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=0.1, burst=1, clock=clock)
    await limiter.take("alice")

    answers = []
    for _ in range(10):  # each refusal banks 0.1 token; ten of them add up to 0.9999999999999999
        clock.advance(1.0)
        answers.append((await limiter.take("alice")).allowed)

    assert answers == [False] * 9 + [True]


async def test_a_request_may_cost_several_tokens(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=10, clock=clock)

    first = await limiter.take("alice", cost=4)
    too_dear = await limiter.take("alice", cost=7)
    rest = await limiter.take("alice", cost=6)

    assert first == Decision(allowed=True, limit=10, remaining=6, reset_after=4.0, retry_after=0.0)
    assert too_dear == Decision(allowed=False, limit=10, remaining=6, reset_after=4.0, retry_after=1.0)
    assert rest == Decision(allowed=True, limit=10, remaining=0, reset_after=10.0, retry_after=0.0)


async def test_a_cost_above_the_burst_is_a_programming_error(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=10, clock=clock)

    with pytest.raises(ValueError):
        await limiter.take("alice", cost=11)
    with pytest.raises(ValueError):
        await limiter.take("alice", cost=0)


def test_headers_of_an_allowed_request_say_what_is_left() -> None:
    decision = Decision(allowed=True, limit=10, remaining=3, reset_after=2.2, retry_after=0.0)

    assert headers(decision) == [
        (b"ratelimit-limit", b"10"),
        (b"ratelimit-remaining", b"3"),
        (b"ratelimit-reset", b"3"),
    ]


def test_headers_of_a_refused_request_add_retry_after_in_whole_seconds() -> None:
    decision = Decision(allowed=False, limit=10, remaining=0, reset_after=20.0, retry_after=2.000001)

    assert headers(decision) == [
        (b"ratelimit-limit", b"10"),
        (b"ratelimit-remaining", b"0"),
        (b"ratelimit-reset", b"20"),
        (b"retry-after", b"3"),
    ]


def test_retry_after_is_never_zero_and_float_noise_adds_no_second() -> None:
    soon = Decision(allowed=False, limit=1, remaining=0, reset_after=0.05, retry_after=0.05)
    noisy = Decision(allowed=False, limit=4, remaining=0, reset_after=2.0000000000004, retry_after=0.0)

    assert dict(headers(soon))[b"retry-after"] == b"1"
    assert dict(headers(noisy))[b"ratelimit-reset"] == b"2"
    assert dict(headers(noisy))[b"retry-after"] == b"1"


async def test_memory_stays_bounded_and_an_active_client_keeps_its_bucket(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=3, clock=clock, max_keys=1000)
    for _ in range(3):
        await limiter.take("active")

    for i in range(1_000_000):
        await limiter.take(f"flood-{i}")
        if i % 500 == 0:
            # Evicted, "active" would come back with a full bucket and be let through.
            assert not (await limiter.take("active")).allowed
            assert len(limiter._buckets) <= 1000

    assert not (await limiter.take("active")).allowed
    assert len(limiter._buckets) == 1000
