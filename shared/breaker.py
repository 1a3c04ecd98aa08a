"""Guards for calls to an upstream: a circuit breaker that stops calling one that keeps failing, and
a bound on the calls in flight to it.

Hand-written: the asyncio breakers on PyPI (aiobreaker, aiocircuitbreaker, purgatory) wrap a function
and count what it raises, while here any answer is a success, a refused instance is skipped for the
next, and the 503 needs the time left open for its Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Literal

from shared.errors import ServiceUnavailable
from shared.settings import ServiceSettings

State = Literal["closed", "open", "half_open"]


class CircuitOpen(ServiceUnavailable):
    """Refused without calling: the upstream's breaker is open, or its one probe is in flight."""

    def __init__(self, service: str, retry_after: int) -> None:
        super().__init__(f"The {service} service is unavailable (circuit open)", retry_after=retry_after)
        self.retry_after = retry_after


class Breaker:
    """Closed → open after `failures` consecutive failures (exceptions of the `counts` types); open →
    half-open after `reset_seconds`, when one probe goes through: its success closes the breaker, its
    failure opens it again. Any other exception is no verdict (an answer, a cancellation)."""

    def __init__(
        self,
        service: str,
        counts: tuple[type[BaseException], ...],
        *,
        failures: int = 5,
        reset_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service, self.counts = service, counts
        self.failures, self.reset_seconds, self._clock = failures, reset_seconds, clock
        self._failed = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() < self._opened_at + self.reset_seconds else "half_open"

    def retry_after(self) -> int:
        """Whole seconds until a probe may go (at least 1: a client must not retry at once)."""
        left = 0.0 if self._opened_at is None else self._opened_at + self.reset_seconds - self._clock()
        return max(1, math.ceil(left))

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """One call: refused with CircuitOpen (before any I/O) unless the breaker lets it through."""
        state = self.state
        if state == "open" or (state == "half_open" and self._probing):
            raise CircuitOpen(self.service, self.retry_after())
        probe = state == "half_open"
        self._probing = self._probing or probe
        try:
            yield
        except self.counts:
            self._record(ok=False)
            raise
        else:
            self._record(ok=True)
        finally:
            if probe:  # even without a verdict (cancelled), so that the next call may probe
                self._probing = False

    def _record(self, *, ok: bool) -> None:
        state = self.state
        if state == "open":
            return  # a call sent before it opened: neither closes it early nor keeps it open longer
        if ok:
            self._failed, self._opened_at = 0, None
        elif state == "half_open" or self._failed + 1 >= self.failures:
            self._failed, self._opened_at = 0, self._clock()
        else:
            self._failed += 1


class Bulkhead:
    """At most `limit` calls in flight; a call that gets no slot within `wait` seconds is refused with
    503 at once instead of queueing behind a slow upstream."""

    def __init__(self, service: str, limit: int = 200, wait: float = 0.1) -> None:
        self.service, self.wait = service, wait
        self._slots = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), self.wait)
            except TimeoutError:
                raise ServiceUnavailable(f"The {self.service} service is busy", retry_after=1) from None
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()


@dataclass(frozen=True)
class Protection:
    """How a process guards its upstreams: one breaker per instance, one bulkhead per service."""

    failures: int = 5
    reset_seconds: float = 5.0
    max_concurrent: int = 200
    slot_wait: float = 0.1
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Protection:
        return cls(settings.breaker_failures, settings.breaker_reset_seconds, settings.max_concurrent_calls)

    def breaker(self, service: str, counts: tuple[type[BaseException], ...]) -> Breaker:
        return Breaker(
            service, counts, failures=self.failures, reset_seconds=self.reset_seconds, clock=self.clock
        )

    def bulkhead(self, service: str) -> Bulkhead:
        return Bulkhead(service, self.max_concurrent, self.slot_wait)
