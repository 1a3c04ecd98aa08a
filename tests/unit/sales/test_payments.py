"""A payment provider that fails like a real one: the simulated provider's seeded failure and
timeout rates, the time limit on every call, and the saga's answer to a provider that is down or
too slow (503, the order Failed, the hold released, the charge voided; no unit sold unpaid)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pydantic
import pytest

from sales_service.payments import (
    Charge,
    PaymentProvider,
    PaymentTimeout,
    PaymentUnavailable,
    SimulatedPayments,
    TimedPayments,
)
from sales_service.settings import SalesSettings
from tests.unit.sales.fake_inventory import FULL_STOCK, running_shop

TINY = 0.02  # seconds: a call timeout every hanging provider overruns
# How long a hanging provider stays silent: far past TINY, yet a broken time limit fails, not hangs, a test.
HANG = 10.0


def flaky(seed: int) -> SimulatedPayments:
    """The fault tests' provider: 30% of charges fail, 20% hang."""
    return SimulatedPayments(failure_rate=0.3, timeout_rate=0.2, seed=seed, hang_seconds=HANG)


async def outcome(payments: PaymentProvider, order_id: str, token: str = "tok_visa") -> str:
    try:
        charge = await payments.charge(order_id, Decimal("10.00"), "credit_card", token)
    except PaymentTimeout:
        return "timeout"
    except PaymentUnavailable:
        return "unavailable"
    return "approved" if charge.approved else "declined"


async def outcomes(payments: SimulatedPayments, n: int) -> list[str]:
    """`n` charges at once through the call timeout; each draws its dice as it starts, in call order."""
    timed = TimedPayments(payments, TINY)
    return list(await asyncio.gather(*(outcome(timed, f"order_{i}") for i in range(n))))


# --- the simulated provider's rates ---------------------------------------------------------------


async def test_a_seeded_provider_fails_and_hangs_exactly_the_calls_its_dice_pick() -> None:
    payments = flaky(seed=42)

    # random.Random(42) draws 0.639, 0.025, 0.275, 0.223, 0.736, 0.677, 0.892, 0.087, 0.422, 0.030, ...
    assert await outcomes(payments, 12) == [
        "approved",
        "unavailable",
        "unavailable",
        "unavailable",
        "approved",
        "approved",
        "approved",
        "unavailable",
        "timeout",
        "unavailable",
        "unavailable",
        "approved",
    ]
    # A failed charge took nothing; a hung one took the money before it went silent.
    assert set(payments.charges) == {f"order_{i}" for i in (0, 4, 5, 6, 8, 11)}


async def test_the_same_seed_fails_the_same_calls_again() -> None:
    first = await outcomes(flaky(seed=7), 50)
    again = await outcomes(flaky(seed=7), 50)
    other = await outcomes(flaky(seed=8), 50)

    assert first == again
    assert first != other


async def test_the_rates_are_the_fractions_of_charges_that_fail_and_hang() -> None:
    results = await outcomes(flaky(seed=1), 1000)

    # Seeded, so these counts are fixed; the bounds only say they are the asked fractions.
    assert 270 <= results.count("unavailable") <= 330
    assert 170 <= results.count("timeout") <= 230
    assert results.count("approved") == 1000 - results.count("unavailable") - results.count("timeout")


@pytest.mark.parametrize(
    ("failure_rate", "timeout_rate", "every_call"),
    [(0.0, 0.0, "approved"), (1.0, 0.0, "unavailable"), (0.0, 1.0, "timeout")],
)
async def test_a_rate_of_zero_or_one_is_never_or_always(
    failure_rate: float, timeout_rate: float, every_call: str
) -> None:
    payments = SimulatedPayments(failure_rate=failure_rate, timeout_rate=timeout_rate, hang_seconds=HANG)

    assert set(await outcomes(payments, 100)) == {every_call}


async def test_tokens_still_decline_and_fail_whatever_the_dice() -> None:
    payments = TimedPayments(SimulatedPayments(), TINY)

    assert await outcome(payments, "order_1", "tok_declined") == "declined"
    assert await outcome(payments, "order_2", "tok_unavailable") == "unavailable"
    assert await outcome(payments, "order_3", "tok_visa") == "approved"


@pytest.mark.parametrize(("failure_rate", "timeout_rate"), [(-0.1, 0.0), (0.0, 1.5), (0.6, 0.5)])
def test_rates_outside_zero_to_one_are_refused(failure_rate: float, timeout_rate: float) -> None:
    with pytest.raises(ValueError, match="at most 1"):
        SimulatedPayments(failure_rate=failure_rate, timeout_rate=timeout_rate)
    with pytest.raises(pydantic.ValidationError):
        SalesSettings(payment_failure_rate=failure_rate, payment_timeout_rate=timeout_rate)


def test_the_payment_settings_come_from_sales_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SalesSettings().payment_timeout_seconds == 5
    assert (SalesSettings().payment_failure_rate, SalesSettings().payment_timeout_rate) == (0, 0)
    monkeypatch.setenv("SALES_PAYMENT_FAILURE_RATE", "0.3")
    monkeypatch.setenv("SALES_PAYMENT_TIMEOUT_RATE", "0.2")
    monkeypatch.setenv("SALES_PAYMENT_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("SALES_PAYMENT_SEED", "42")

    settings = SalesSettings()

    assert (settings.payment_failure_rate, settings.payment_timeout_rate) == (0.3, 0.2)
    assert (settings.payment_timeout_seconds, settings.payment_seed) == (0.3, 42)


# --- the saga with a provider that is too slow ----------------------------------------------------


class HangingPayments:
    """A provider whose charges never answer; `lands`: whether the money was taken before it went silent.
    Refunds answer unless `refunds_hang`."""

    def __init__(self, *, lands: bool = True, refunds_hang: bool = False) -> None:
        self.lands = lands
        self.refunds_hang = refunds_hang
        self.charged: set[str] = set()
        self.refund_calls: list[str] = []
        self.refunded: set[str] = set()

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        if self.lands:
            self.charged.add(order_id)
        await asyncio.sleep(HANG)
        raise AssertionError("the call timeout should have cut this charge off")

    async def refund(self, order_id: str) -> bool:
        self.refund_calls.append(order_id)
        if self.refunds_hang:
            await asyncio.sleep(HANG)
        if order_id in self.charged:
            self.refunded.add(order_id)
            return True
        return False


@pytest.mark.parametrize(("lands", "payment_status"), [(True, "Refunded"), (False, "Pending")])
async def test_a_charge_that_outlasts_the_timeout_is_503_the_order_failed_the_hold_released_and_voided(
    lands: bool, payment_status: str
) -> None:
    provider = HangingPayments(lands=lands)
    async with running_shop(provider, payment_timeout_seconds=TINY) as shop:
        response = await shop.place()

        assert response.status_code == 503, response.text
        assert response.json()["error"] == "Payment provider did not answer in time"
        assert response.headers["retry-after"].isdigit()
        order = await shop.order()
        assert (order["status"], order["payment_status"]) == ("Failed", payment_status)
        assert provider.refund_calls == ["order_1"]  # voided whether or not the charge landed
        assert provider.refunded == provider.charged
        assert shop.inventory.status == {"order_1": "released"}
        assert shop.inventory.stock == FULL_STOCK
        assert await shop.store.pending_orders() == []


async def test_a_void_that_cannot_be_sent_leaves_the_order_to_recovery_which_refunds_it() -> None:
    provider = HangingPayments(refunds_hang=True)
    async with running_shop(provider, payment_timeout_seconds=TINY) as shop:
        response = await shop.place()

        assert response.status_code == 503, response.text
        assert shop.inventory.status == {"order_1": "released"}  # the units go back at once
        assert (await shop.order())["status"] == "Pending"  # the money may still be taken

        await shop.recover()  # the refund times out again: recovery gives up for now, bounded
        assert (await shop.order())["status"] == "Pending"

        provider.refunds_hang = False
        await shop.recover()

        order = await shop.order()
        assert (order["status"], order["payment_status"]) == ("Failed", "Refunded")
        assert provider.refund_calls == ["order_1"] * 3
        assert provider.refunded == {"order_1"}
        assert shop.inventory.stock == FULL_STOCK
        assert await shop.store.pending_orders() == []


async def test_a_flaky_provider_sells_no_unit_without_payment_and_loses_none() -> None:
    provider = flaky(seed=3)
    async with running_shop(provider, payment_timeout_seconds=TINY) as shop:
        tokens = ["tok_visa"] * 4 + ["tok_declined"]
        responses = await asyncio.gather(
            *(
                shop.place(payment_token=tokens[i % 5], books=[{"book_id": "123", "quantity": 1}])
                for i in range(40)
            )
        )

        statuses = [r.status_code for r in responses]
        assert set(statuses) == {201, 402, 503}, statuses
        assert await shop.store.pending_orders() == []
        committed = {o for o, status in shop.inventory.status.items() if status == "committed"}
        assert committed == {r.json()["order_id"] for r in responses if r.status_code == 201}
        assert committed <= set(provider.charges)
        for order_id, charge in provider.charges.items():
            taken = charge.approved and order_id not in provider.refunds
            assert taken == (order_id in committed), order_id  # paid exactly for what was sold
        assert shop.inventory.stock["123"] + len(committed) == FULL_STOCK["123"]
        for order_id in committed:
            assert (await shop.order(order_id))["payment_status"] == "Paid"
