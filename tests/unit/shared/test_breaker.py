"""The circuit breaker on a fake clock: closed while calls succeed, open after failures in a row
(failing fast with 503 and Retry-After), half-open with exactly one probe that decides."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import pytest

from shared.breaker import Breaker, CircuitOpen
from shared.errors import ServiceUnavailable
from tests.helpers import FakeClock


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
