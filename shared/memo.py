"""The last outcome of an async computation, remembered for a short while and computed once for
concurrent callers: what the public may ask for freely (readiness, the API's description) costs the
services one call a second, however many ask."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """`compute`'s value, or the exception it raised, for `ttl` seconds after it was computed (0:
    computed on every call, concurrently)."""

    def __init__(
        self, compute: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._compute = compute
        self.ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._at: float | None = None
        self._value: T | None = None
        self._error: Exception | None = None

    def _fresh(self) -> bool:
        return self._at is not None and self._clock() - self._at < self.ttl

    async def get(self) -> T:
        if self.ttl <= 0:
            return await self._compute()
        if not self._fresh():
            async with self._lock:  # the callers that waited here get what the first computed
                if not self._fresh():
                    await self._refresh()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set by _refresh whenever _error is None

    async def _refresh(self) -> None:
        try:
            self._value, self._error = await self._compute(), None
        except Exception as exc:
            self._value, self._error = None, exc
        self._at = self._clock()
