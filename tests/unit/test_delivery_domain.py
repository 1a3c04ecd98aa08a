"""Delivery's pure rules: business days, the estimated date, who may be delivered, stored documents."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from delivery_service.domain import (
    Delivery,
    DeliveryDraft,
    Order,
    OrderNotConfirmed,
    add_business_days,
    check_deliverable,
    estimated_date,
)

FRIDAY = date(2026, 11, 27)


def an_order(status: str = "Confirmed", created_at: str = "2026-11-27T05:30:00Z") -> Order:
    return Order("order_1", "cust_001", status, datetime.fromisoformat(created_at))


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (FRIDAY, 1, date(2026, 11, 30)),  # Friday + 1 = Monday
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday + 1 = Monday
        (date(2026, 11, 29), 1, date(2026, 11, 30)),  # Sunday + 1 = Monday
        (date(2026, 11, 30), 4, date(2026, 12, 4)),  # Monday + 4 = Friday, no weekend crossed
        (FRIDAY, 5, date(2026, 12, 4)),  # a working week later, same weekday
        (date(2026, 11, 25), 10, date(2026, 12, 9)),  # Wednesday + 10 crosses two weekends
        (FRIDAY, 0, FRIDAY),
    ],
)
def test_business_days_skip_weekends(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days) == expected


def test_business_days_cannot_go_backwards() -> None:
    with pytest.raises(ValueError):
        add_business_days(FRIDAY, -1)


def test_the_estimated_date_counts_from_the_order_date() -> None:
    assert estimated_date(an_order(), None, 5) == date(2026, 12, 4)


def test_the_order_date_is_taken_in_utc() -> None:
    # Thursday 22:00 in New York is already Friday in UTC: Friday + 1 business day = Monday.
    order = an_order(created_at="2026-11-26T22:00:00-05:00")
    assert estimated_date(order, None, 1) == date(2026, 11, 30)


def test_a_requested_date_wins_even_in_the_past() -> None:
    assert estimated_date(an_order(), date(2020, 1, 1), 5) == date(2020, 1, 1)


def test_a_confirmed_order_can_be_delivered() -> None:
    check_deliverable(an_order("Confirmed"))


@pytest.mark.parametrize("status", ["Pending", "Failed", "Cancelled", "Shipped", "Delivered"])
def test_only_a_confirmed_order_can_be_delivered(status: str) -> None:
    with pytest.raises(OrderNotConfirmed, match=f"Order order_1 is {status}, not Confirmed") as caught:
        check_deliverable(an_order(status))
    assert caught.value.status == 409


def test_a_new_delivery_is_pending_since_its_creation_and_survives_its_document() -> None:
    created_at = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)
    draft = DeliveryDraft("order_1", "cust_001", "1 Main St", date(2026, 12, 3), created_at)
    delivery = draft.as_delivery("del_7")
    assert (delivery.delivery_id, delivery.status) == ("del_7", "Pending")
    assert [(c.status, c.at) for c in delivery.history] == [("Pending", created_at)]
    assert Delivery.from_doc(delivery.to_doc()) == delivery
