"""Token-bucket rate limiting for the gateway: one bucket per client key, in memory or in Redis.

A bucket holds at most `burst` tokens and refills continuously at `rate` tokens a second; a
request takes `cost` tokens or is refused. Both backends compute the same `Decision`, and
`headers()` turns it into the RateLimit header fields (IETF draft) and `Retry-After` for a 429.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("gateway.ratelimit")

# Float refills drift by ulps (0.1 * 3 < 0.3): a token that is there "on paper" must count.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Decision:
    """The answer for one request: allowed or not, and what to tell the client about its bucket."""

    allowed: bool
    limit: int  # the bucket size (burst)
    remaining: int  # whole tokens left after this request
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until this request's cost is available; 0 when allowed


class RateLimiter(Protocol):
    """Takes tokens from the bucket of a key; the gateway holds one for its lifetime."""

    async def take(self, key: str, cost: float = 1.0) -> Decision: ...

    async def close(self) -> None: ...


def headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The RateLimit-Limit/-Remaining/-Reset fields, plus Retry-After when refused, as ASGI
    headers (names lowercased, as ASGI requires)."""
    raw = [
        (b"ratelimit-limit", b"%d" % decision.limit),
        (b"ratelimit-remaining", b"%d" % decision.remaining),
        (b"ratelimit-reset", b"%d" % _whole_seconds(decision.reset_after)),
    ]
    if not decision.allowed:
        raw.append((b"retry-after", b"%d" % max(1, _whole_seconds(decision.retry_after))))
    return raw


def _whole_seconds(seconds: float) -> int:
    # Rounded to the microsecond first, so float noise (2.0000000000004) does not add a second.
    return max(0, math.ceil(round(seconds, 6)))


def _check(rate: float, burst: int) -> None:
    if rate <= 0 or burst < 1:
        raise ValueError("a rate limit needs rate > 0 and burst >= 1")


def _check_cost(cost: float, burst: int) -> None:
    # A cost above the burst could never be paid: that is a caller's bug, not a 429.
    if not 0 < cost <= burst:
        raise ValueError(f"cost must be in (0, {burst}], not {cost}")


def _decide(allowed: bool, tokens: float, cost: float, rate: float, burst: int) -> Decision:
    """The decision, given the tokens left in the bucket after the request was (or was not) paid."""
    return Decision(
        allowed=allowed,
        limit=burst,
        remaining=max(0, math.floor(tokens + _EPSILON)),
        reset_after=max(0.0, (burst - tokens) / rate),
        retry_after=0.0 if allowed else max(0.0, (cost - tokens) / rate),
    )


class MemoryRateLimiter:
    """Buckets in this process only: for one gateway instance, and for tests (inject `clock`).

    At most `max_keys` buckets are kept; beyond that the least recently used go first. An evicted
    bucket comes back full, which is exactly its state once idle for burst/rate seconds, so only
    clients quieter than all `max_keys` others can ever gain from it, and memory stays bounded
    however many distinct keys clients invent.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        _check(rate, burst)
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        _check_cost(cost, self.burst)
        now = self.clock()
        saved = self._buckets.get(key)
        if saved is None:
            tokens = float(self.burst)
        else:
            tokens = min(self.burst, saved[0] + max(0.0, now - saved[1]) * self.rate)
            self._buckets.move_to_end(key)
        allowed = tokens + _EPSILON >= cost
        if allowed:
            tokens = max(0.0, tokens - cost)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return _decide(allowed, tokens, cost, self.rate, self.burst)

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1]: the bucket, a hash {tokens, ts}. ARGV: rate, burst, cost, epsilon.
# Returns {1 if allowed else 0, tokens left as a string (Lua numbers would be cut to integers)}.
# The server's clock, so every gateway instance measures the refill alike; a refusal writes
# nothing; the hash expires when the bucket would be full again, so idle keys cost no memory.
_TAKE = """
local rate, burst, cost, eps = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = burst
if saved[1] and saved[2] then
  tokens = math.min(burst, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
end
if tokens + eps < cost then
  return {0, string.format('%.17g', tokens)}
end
tokens = math.max(0, tokens - cost)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
return {1, string.format('%.17g', tokens)}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every gateway instance; one Lua script makes each take atomic.

    It FAILS OPEN: when Redis is unreachable, slow or erroring, every request is allowed (with the
    headers of a full bucket), a warning is logged at most every `warn_every` seconds, and Redis is
    not asked again for `probe_every` seconds. A rate limiter guards the shop against abuse; it
    must never be the reason the shop is down. `timeout` caps the time one take may spend, even
    on a client configured with long timeouts or many retries.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        rate: float,
        burst: int,
        *,
        timeout: float = 0.5,
        probe_every: float = 1.0,
        warn_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(rate, burst)
        self.redis = redis
        self.prefix = prefix
        self.rate = rate
        self.burst = burst
        self.timeout = timeout
        self.probe_every = probe_every
        self.warn_every = warn_every
        self.clock = clock
        self._script = redis.register_script(_TAKE)
        self._skip_until = -math.inf
        self._warned_at = -math.inf
        self._failures = 0  # since the last warning

    @classmethod
    def from_url(
        cls, url: str, prefix: str, rate: float, burst: int, *, timeout: float = 0.25
    ) -> RedisRateLimiter:
        """A limiter on its own client: short timeouts, and one retry (a pooled connection may be
        stale after a Redis restart) rather than redis-py's default of ten with backoff."""
        client = Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        return cls(client, prefix, rate, burst, timeout=2 * timeout)

    def key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        _check_cost(cost, self.burst)
        if self.clock() < self._skip_until:
            return self._open(cost)
        try:
            async with asyncio.timeout(self.timeout):
                allowed, tokens = await self._script(
                    keys=[self.key(key)], args=[self.rate, self.burst, cost, _EPSILON]
                )
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            self._failed(exc)
            return self._open(cost)
        return _decide(bool(allowed), float(tokens), cost, self.rate, self.burst)

    def _open(self, cost: float) -> Decision:
        # What a fresh bucket would answer: the most a client can take while Redis is away.
        return _decide(True, self.burst - cost, cost, self.rate, self.burst)

    def _failed(self, exc: BaseException) -> None:
        now = self.clock()
        self._skip_until = now + self.probe_every
        self._failures += 1
        if now - self._warned_at >= self.warn_every:
            log.warning(
                "rate limiting is off: redis is unavailable (%d failures): %r; allowing requests",
                self._failures,
                exc,
            )
            self._warned_at = now
            self._failures = 0

    async def close(self) -> None:
        await self.redis.aclose()
