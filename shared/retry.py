"""Bounded, jittered retries for idempotent calls only (calls keyed so that a repeat changes nothing)."""

from __future__ import annotations

import asyncio
import random
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
    # The first attempt outside tenacity: building its machinery for every call that succeeds at
    # once (nearly all of them) was ~3% of a calling service's CPU per request (docs/benchmarks.md).
    try:
        return await call()
    except CircuitOpen:  # a breaker's fast refusal is not retried: it would only be refused again
        raise
    except (ServiceUnavailable, UpstreamTimeout):
        if attempts <= 1:
            raise
    await asyncio.sleep(random.uniform(0.05, 0.1))  # the first of the jittered waits below
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1),
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
