"""The circuit breaker and the bound on calls in flight, on a fake clock; then both at work in an
upstream with several instances and in the gateway."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, ExitStack

import httpx
import pytest

from shared.breaker import Breaker, Bulkhead, CircuitOpen, Protection
from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.http import Upstream
from tests.unit.fake_instances import instance

AUTH = {"Authorization": "Bearer my_secure_token"}


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hang_guard() -> asyncio.Timeout:
    """Turns a call that would wait forever into a failure (TimeoutError), without asserting speed."""
    return asyncio.timeout(30)


class Refused(Exception):
    """Stands for a transport failure: the kind of exception the breaker counts."""


def a_breaker(clock: FakeClock, failures: int = 3, reset_seconds: float = 5.0) -> Breaker:
    return Breaker("inventory", (Refused,), failures=failures, reset_seconds=reset_seconds, clock=clock)


def fail(breaker: Breaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Refused), breaker.attempt():
            raise Refused


def succeed(breaker: Breaker) -> bool:
    """True when the call ran (was let through the breaker)."""
    ran = False
    with breaker.attempt():
        ran = True
    return ran


def opened(clock: FakeClock, failures: int = 3) -> Breaker:
    breaker = a_breaker(clock, failures)
    fail(breaker, failures)
    assert breaker.state == "open"
    return breaker


# --- closed ---------------------------------------------------------------------------------------


def test_a_new_breaker_is_closed_and_lets_calls_through() -> None:
    breaker = a_breaker(FakeClock())

    assert breaker.state == "closed"
    assert succeed(breaker)


def test_it_opens_after_the_configured_number_of_failures_in_a_row() -> None:
    breaker = a_breaker(FakeClock(), failures=3)

    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_a_success_between_failures_starts_the_count_again() -> None:
    breaker = a_breaker(FakeClock(), failures=3)

    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)

    assert breaker.state == "closed"


def test_an_exception_it_does_not_count_is_not_a_failure() -> None:
    breaker = a_breaker(FakeClock(), failures=2)

    for _ in range(5):
        with pytest.raises(ValueError), breaker.attempt():
            raise ValueError("an answer the caller did not like")

    assert breaker.state == "closed"


# --- open -----------------------------------------------------------------------------------------


def test_an_open_breaker_fails_fast_with_503_and_retry_after_without_running_the_call() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(1.2)

    ran = False
    with pytest.raises(CircuitOpen) as refused, breaker.attempt():
        ran = True

    assert not ran
    assert isinstance(refused.value, ServiceUnavailable) and refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "4"  # 3.8 s left, rounded up
    assert refused.value.message == "The inventory service is unavailable (circuit open)"


def test_retry_after_is_never_below_one_second() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(4.99)

    with pytest.raises(CircuitOpen) as refused, breaker.attempt():
        pass

    assert refused.value.retry_after == 1


def test_it_stays_open_until_the_reset_time_has_passed() -> None:
    clock = FakeClock()
    breaker = opened(clock)

    clock.advance(4.9)

    assert breaker.state == "open"


# --- half-open ------------------------------------------------------------------------------------


def test_after_the_reset_time_it_is_half_open() -> None:
    clock = FakeClock()
    breaker = opened(clock)

    clock.advance(5.0)

    assert breaker.state == "half_open"


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(5.0)

    with ExitStack() as probe_in_flight:
        probe_in_flight.enter_context(breaker.attempt())
        for _ in range(3):
            with pytest.raises(CircuitOpen) as refused, breaker.attempt():
                pass
            assert refused.value.headers["Retry-After"] == "1"
        assert breaker.state == "half_open"


def test_a_successful_probe_closes_it() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(5.0)

    assert succeed(breaker)

    assert breaker.state == "closed"
    assert succeed(breaker) and succeed(breaker)


def test_a_failed_probe_opens_it_again_for_a_whole_reset_time() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(6.0)

    fail(breaker)

    assert breaker.state == "open"
    with pytest.raises(CircuitOpen) as refused, breaker.attempt():
        pass
    assert refused.value.headers["Retry-After"] == "5"


def test_a_probe_that_ends_without_a_verdict_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(5.0)

    with pytest.raises(asyncio.CancelledError), breaker.attempt():
        raise asyncio.CancelledError

    assert breaker.state == "half_open"
    assert succeed(breaker)
    assert breaker.state == "closed"


def test_a_late_answer_to_a_call_sent_before_it_opened_does_not_close_it() -> None:
    clock = FakeClock()
    breaker = a_breaker(clock, failures=1)

    with breaker.attempt():  # sent while closed ...
        fail(breaker)  # ... another call fails meanwhile and opens it

    assert breaker.state == "open"


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


# --- in an upstream of several instances ------------------------------------------------------------


async def test_an_instance_that_keeps_timing_out_stops_getting_its_turns() -> None:
    seen: list[str] = []
    clock = FakeClock()
    upstream = Upstream(
        "inventory",
        [instance("slow", seen, httpx.ReadTimeout), instance("fine", seen)],
        Protection(failures=2, clock=clock),
    )

    outcomes = []
    for _ in range(8):
        try:
            outcomes.append((await upstream.call("GET", "/x")).json()["instance"])
        except UpstreamTimeout:
            outcomes.append("504")

    assert outcomes == ["504", "fine", "504", "fine", "fine", "fine", "fine", "fine"]
    assert seen.count("slow") == 2
    assert upstream.breaker_states() == {"http://slow": "open", "http://fine": "closed"}


async def test_with_every_instance_open_the_service_fails_fast_without_calling_it() -> None:
    seen: list[str] = []
    clock = FakeClock()
    upstream = Upstream(
        "inventory",
        [instance("a", seen, httpx.ConnectError), instance("b", seen, httpx.ConnectError)],
        Protection(failures=2, reset_seconds=5.0, clock=clock),
    )
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await upstream.call("GET", "/x")
    seen.clear()
    clock.advance(2.5)

    with pytest.raises(CircuitOpen) as refused:
        await upstream.call("GET", "/x")

    assert seen == []
    assert refused.value.headers["Retry-After"] == "3"
    assert refused.value.message == "The inventory service is unavailable (circuit open)"


async def test_an_upstream_that_answers_503_or_404_is_not_failing() -> None:
    seen: list[str] = []
    upstream = Upstream(
        "inventory",
        [instance("busy", seen, status=503), instance("picky", seen, status=404)],
        Protection(failures=1, clock=FakeClock()),
    )

    statuses = [(await upstream.call("GET", "/x")).status_code for _ in range(6)]

    assert statuses == [503, 404] * 3
    assert set(upstream.breaker_states().values()) == {"closed"}


async def test_an_instance_is_probed_again_after_the_reset_time_and_closes_when_it_answers() -> None:
    seen: list[str] = []
    clock = FakeClock()
    down = True

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append("inventory")
        if down:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://inventory")
    upstream = Upstream("inventory", client, Protection(failures=1, reset_seconds=5.0, clock=clock))
    with pytest.raises(ServiceUnavailable):
        await upstream.call("GET", "/x")
    with pytest.raises(CircuitOpen):
        await upstream.call("GET", "/x")
    assert seen == ["inventory"]

    down = False
    clock.advance(5.0)

    assert (await upstream.call("GET", "/x")).status_code == 200
    assert upstream.breaker_states() == {"http://inventory": "closed"}


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
