"""The bound on calls in flight: the call beyond it is refused with 503, a freed slot is taken by a
waiting call; and an upstream refuses the call beyond its bound."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
import pytest

from shared.breaker import Bulkhead, Protection
from shared.errors import ServiceUnavailable
from shared.http import Upstream


def hang_guard() -> asyncio.Timeout:
    """Turns a call that would wait forever into a failure (TimeoutError), without asserting speed."""
    return asyncio.timeout(30)


# --- the bound on calls in flight -------------------------------------------------------------------


async def test_the_call_beyond_the_bound_is_refused_with_503() -> None:
    bulkhead = Bulkhead("inventory", limit=3, wait=0)

    async with AsyncExitStack() as in_flight:
        for _ in range(3):
            await in_flight.enter_async_context(bulkhead.slot())
        with pytest.raises(ServiceUnavailable) as refused:
            async with hang_guard(), bulkhead.slot():
                pass

    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.message == "The inventory service is busy"


async def test_a_slot_is_free_again_once_a_call_ends() -> None:
    bulkhead = Bulkhead("inventory", limit=1, wait=0)

    async with bulkhead.slot():
        pass
    async with bulkhead.slot():
        pass


async def test_a_call_that_finds_the_bound_full_takes_a_slot_freed_while_it_waits() -> None:
    bulkhead = Bulkhead("inventory", limit=1, wait=60)
    got_in = asyncio.Event()

    async def second() -> None:
        async with bulkhead.slot():
            got_in.set()

    async with AsyncExitStack() as first:
        await first.enter_async_context(bulkhead.slot())
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)  # let it start waiting for the slot
        assert not got_in.is_set()
    await waiting

    assert got_in.is_set()


async def test_the_upstream_refuses_the_call_beyond_its_bound() -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://inventory")
    upstream = Upstream("inventory", client, Protection(max_concurrent=1, slot_wait=0))

    first = asyncio.create_task(upstream.call("GET", "/x"))
    await arrived.wait()
    with pytest.raises(ServiceUnavailable, match="busy"):
        async with hang_guard():
            await upstream.call("GET", "/x")
    release.set()

    assert (await first).status_code == 200
