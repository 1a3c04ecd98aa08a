"""Background work that a service runs for its whole life (sweeps, reconciliation)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("shared.tasks")


@contextlib.asynccontextmanager
async def periodic(name: str, interval: float, job: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run `job` every `interval` seconds while the context is open; a failing run is logged, not fatal."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:
                log.exception("background job failed", extra={"job": name})

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
