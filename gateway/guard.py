"""Who may send how much: a rate limit per principal, and a brake on failed authentications per
client address, so a token cannot be guessed at speed (once a client has failed too often, its
requests are refused before their token is even looked at)."""

from __future__ import annotations

import ipaddress
import time

from starlette.types import Scope

from gateway.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.settings import GatewaySettings

_MAX_BLOCKED = 100_000


class Guard:
    """The two limiters and the addresses currently refused for guessing."""

    def __init__(
        self, requests: RateLimiter | None, failures: RateLimiter, trusted_proxies: list[str]
    ) -> None:
        self.requests = requests
        self.failures = failures
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
        return cls(requests, failures, settings.trusted_proxies)

    def client_address(self, scope: Scope) -> str:
        """The peer's address, or the client a trusted proxy names in X-Forwarded-For."""
        peer = (scope.get("client") or ("unknown", 0))[0]
        if self._trusted(peer):
            forwarded = next((v for k, v in scope["headers"] if k == b"x-forwarded-for"), b"")
            hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
            if hops:
                return hops[-1]
        return str(peer)

    def _trusted(self, peer: str) -> bool:
        if not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted_proxies)

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
        decision = await self.failures.take(address)
        if not decision.allowed:
            if len(self._blocked) >= _MAX_BLOCKED:
                self._blocked.clear()  # bounded memory; the shared limiter still counts
            self._blocked[address] = time.monotonic() + decision.retry_after
        return decision

    async def take(self, subject: str) -> Decision | None:
        return await self.requests.take(subject) if self.requests is not None else None

    async def close(self) -> None:
        if self.requests is not None:
            await self.requests.close()
        await self.failures.close()
