"""Bounded, jittered retries for idempotent calls only (holds, commits, releases keyed by order id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared.breaker import CircuitOpen
from shared.errors import ServiceUnavailable, UpstreamTimeout

T = TypeVar("T")


async def retry_idempotent(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run `call`, retrying on 503/504-class failures; the last failure is raised as it was."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        # A breaker's fast refusal is not retried: it would only be refused again at once.
        retry=retry_if_exception_type((ServiceUnavailable, UpstreamTimeout))
        & retry_if_not_exception_type(CircuitOpen),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last failure")
