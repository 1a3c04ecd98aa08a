"""Who may send how much: a rate limit per principal, and a brake on failed authentications per
client, so a token cannot be guessed at speed (once a client has failed too often, its requests
are refused before their token is even looked at).

A client is its IPv4 address, or its IPv6 network (/64 by default: one subscriber's share, which
it can fill with as many addresses as it likes). Over every client, a global ceiling bounds the
failed authentications a second: past it, each client that fails is braked at once, until the
ceiling has room again; a right token from a client that is not braked still gets in, so guessing
from many networks cannot lock the shop's own users out."""

from __future__ import annotations

import functools
import ipaddress
import time

from starlette.types import Scope

from gateway.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.settings import GatewaySettings

_MAX_BLOCKED = 100_000
_EVERYONE = "*"  # the global ceiling's one bucket


class Guard:
    """The two limiters and the addresses currently refused for guessing."""

    def __init__(
        self,
        requests: RateLimiter | None,
        failures: RateLimiter,
        trusted_proxies: list[str],
        *,
        all_failures: RateLimiter | None = None,
        ipv6_prefix: int = 64,
    ) -> None:
        if not 1 <= ipv6_prefix <= 128:
            raise ValueError("the IPv6 prefix length must be in 1..128")
        self.requests = requests
        self.failures = failures
        self.all_failures = all_failures  # the global ceiling, one bucket for every client
        self.ipv6_prefix = ipv6_prefix
        # Addresses or networks ("10.0.0.0/8": nginx in a container has no fixed address); a
        # malformed entry fails at start rather than silently trusting nobody.
        self.trusted_proxies = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies)
        self._blocked: dict[str, float] = {}  # address -> monotonic time the block ends

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Guard:
        """Shared among gateway instances through Redis when `rate_limit_redis_url` is set."""
        redis_url = settings.rate_limit_redis_url

        def limiter(prefix: str, rate: float, size: int) -> RateLimiter:
            if redis_url:
                return RedisRateLimiter.from_url(redis_url, f"ratelimit:{prefix}:", rate, size)
            return MemoryRateLimiter(rate, size)

        per_second = settings.rate_limit_per_second
        requests = limiter("principal", per_second, settings.rate_limit_burst) if per_second > 0 else None
        failures = limiter("authfail", settings.auth_failures_per_second, settings.auth_failures_burst)
        ceiling = settings.auth_failures_global_per_second
        all_failures = (
            limiter("authfail-all", ceiling, settings.auth_failures_global_burst) if ceiling > 0 else None
        )
        return cls(
            requests,
            failures,
            settings.trusted_proxies,
            all_failures=all_failures,
            ipv6_prefix=settings.auth_failures_ipv6_prefix,
        )

    def client_address(self, scope: Scope) -> str:
        """The peer's address, or the client a trusted proxy names in X-Forwarded-For."""
        peer = (scope.get("client") or ("unknown", 0))[0]
        if self._trusted(peer):
            forwarded = next((v for k, v in scope["headers"] if k == b"x-forwarded-for"), b"")
            hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
            if hops:
                return hops[-1]
        return str(peer)

    def client_key(self, scope: Scope) -> str:
        """Who the brake counts: the client's IPv4 address, or its IPv6 network (`ipv6_prefix`)."""
        return _client_key(self.client_address(scope), self.ipv6_prefix)

    def _trusted(self, peer: str) -> bool:
        if not self.trusted_proxies:
            return False
        address = _ip(peer)
        return address is not None and any(address in network for network in self.trusted_proxies)

    def blocked_for(self, address: str) -> float:
        """Seconds this address must still wait after failing too often (0: not blocked)."""
        until = self._blocked.get(address)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked[address]
            return 0.0
        return left

    async def failed(self, address: str) -> Decision:
        """Counts one failed authentication of `address` (a `client_key`) and of everyone; refused
        when either is past its limit, and then the address is braked for the wait it was told."""
        decision = await self.failures.take(address)
        if decision.allowed and self.all_failures is not None:
            decision = await self.all_failures.take(_EVERYONE)
        if not decision.allowed:
            if len(self._blocked) >= _MAX_BLOCKED:
                self._blocked.clear()  # bounded memory; the shared limiter still counts
            self._blocked[address] = time.monotonic() + decision.retry_after
        return decision

    async def take(self, subject: str) -> Decision | None:
        return await self.requests.take(subject) if self.requests is not None else None

    async def close(self) -> None:
        for limiter in (self.requests, self.failures, self.all_failures):
            if limiter is not None:
                await limiter.close()


@functools.lru_cache(maxsize=4096)
def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`address` parsed (an IPv4-mapped IPv6 address as its IPv4 one), None if it is not one; once
    per address among the last 4,096 seen, since every request asks (~2% of a forwarded GET)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return parsed.ipv4_mapped
    return parsed


@functools.lru_cache(maxsize=4096)
def _client_key(address: str, ipv6_prefix: int) -> str:
    parsed = _ip(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    return str(ipaddress.IPv6Network((parsed, ipv6_prefix), strict=False))
