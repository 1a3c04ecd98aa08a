"""Memo: an async result remembered for a while, computed once for callers that ask together."""

from __future__ import annotations

import asyncio

import pytest

from shared.memo import Memo
from tests.helpers import FakeClock


class Counted:
    """A computation that counts its runs, answers the run's number, and waits for `go` to finish."""

    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.fail = fail
        self.go = asyncio.Event()
        self.go.set()

    async def __call__(self) -> int:
        self.runs += 1
        await self.go.wait()
        if self.fail:
            raise RuntimeError(f"run {self.runs} failed")
        return self.runs


async def test_a_value_is_remembered_until_its_time_is_up() -> None:
    clock, compute = FakeClock(), Counted()
    memo = Memo(compute, ttl=1.0, clock=clock)

    first = [await memo.get() for _ in range(5)]
    clock.advance(0.999)
    still = await memo.get()
    clock.advance(0.001)
    fresh = await memo.get()

    assert (first, still, fresh) == ([1] * 5, 1, 2)


async def test_a_failure_is_remembered_too() -> None:
    clock, compute = FakeClock(), Counted(fail=True)
    memo = Memo(compute, ttl=1.0, clock=clock)

    for _ in range(3):
        with pytest.raises(RuntimeError, match="run 1 failed"):
            await memo.get()
    clock.advance(1.0)
    with pytest.raises(RuntimeError, match="run 2 failed"):
        await memo.get()


async def test_callers_that_ask_together_share_one_computation() -> None:
    compute = Counted()
    compute.go.clear()
    memo = Memo(compute, ttl=1.0, clock=FakeClock())

    waiting = asyncio.gather(*(memo.get() for _ in range(20)))
    await asyncio.sleep(0)
    compute.go.set()

    assert await waiting == [1] * 20
    assert compute.runs == 1


async def test_no_time_means_a_computation_on_every_call() -> None:
    compute = Counted()
    memo = Memo(compute, ttl=0, clock=FakeClock())

    assert [await memo.get() for _ in range(3)] == [1, 2, 3]
