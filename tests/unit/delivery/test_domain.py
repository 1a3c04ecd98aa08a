"""Delivery's pure rules: business days, the estimated date, who may be delivered, the status moves
and their compare-and-set rule, stored documents."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from delivery_service.domain import (
    ORDER_MOVES,
    Delivery,
    DeliveryDraft,
    DeliveryStatus,
    MoveClaim,
    MoveInProgress,
    MoveRefused,
    Order,
    OrderNotConfirmed,
    add_business_days,
    check_deliverable,
    check_move,
    check_turn,
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
    delivery = draft.with_id("del_7")
    assert (delivery.delivery_id, delivery.status) == ("del_7", "Pending")
    assert [(c.status, c.at) for c in delivery.history] == [("Pending", created_at)]
    assert Delivery.from_doc(delivery.to_doc()) == delivery


# --- status moves --------------------------------------------------------------------------------

STATUSES: list[DeliveryStatus] = ["Pending", "Shipped", "In Transit", "Delivered", "Cancelled"]
ALLOWED = {
    ("Pending", "Shipped"),
    ("Shipped", "In Transit"),
    ("In Transit", "Delivered"),
    ("Pending", "Cancelled"),
}
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def a_delivery(status: DeliveryStatus = "Pending", claim: MoveClaim | None = None) -> Delivery:
    draft = DeliveryDraft("order_1", "cust_001", "1 Main St", date(2026, 12, 3), NOON)
    return dataclasses.replace(draft.with_id("del_1"), status=status, claim=claim)


@pytest.mark.parametrize(("current", "to"), sorted(ALLOWED))
def test_the_allowed_moves_pass_the_check(current: DeliveryStatus, to: DeliveryStatus) -> None:
    check_move(current, to)


REFUSED = [(a, b) for a in STATUSES for b in STATUSES if (a, b) not in ALLOWED]


@pytest.mark.parametrize(("current", "to"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_other_move_is_a_conflict_naming_both_statuses(
    current: DeliveryStatus, to: DeliveryStatus
) -> None:
    with pytest.raises(MoveRefused) as caught:
        check_move(current, to)
    assert caught.value.status == 409
    assert caught.value.message == f"Cannot change delivery status from {current} to {to}"


def test_only_shipping_and_delivering_move_the_order() -> None:
    assert ORDER_MOVES == {"Shipped": "Shipped", "Delivered": "Delivered"}


def test_a_move_appends_to_the_history_and_ends_a_claim() -> None:
    claim = MoveClaim("Shipped", "t", NOON + timedelta(seconds=30))
    later = NOON + timedelta(hours=2)

    moved = a_delivery(claim=claim).moved("Shipped", later)

    assert moved.status == "Shipped"
    assert [(c.status, c.at) for c in moved.history] == [("Pending", NOON), ("Shipped", later)]
    assert moved.claim is None


def test_a_move_from_a_status_the_delivery_has_left_is_refused_with_its_real_status() -> None:
    with pytest.raises(MoveRefused, match="Cannot change delivery status from Cancelled to Shipped"):
        check_turn(a_delivery("Cancelled"), "Pending", "Shipped")


def test_a_claim_for_another_status_holds_the_delivery() -> None:
    claim = MoveClaim("Shipped", "t", NOON)
    with pytest.raises(MoveInProgress, match="Delivery del_1 is being moved to Shipped"):
        check_turn(a_delivery(claim=claim), "Pending", "Cancelled")


def test_a_claim_for_the_same_status_does_not_hold_the_delivery() -> None:
    claim = MoveClaim("Shipped", "t", NOON + timedelta(seconds=30))
    check_turn(a_delivery(claim=claim), "Pending", "Shipped")


def test_a_claim_made_long_ago_still_holds_the_delivery() -> None:
    # Sales may have applied the move whose answer was lost: no claim lapses into a contradiction.
    claim = MoveClaim("Shipped", "t", NOON - timedelta(days=365))
    with pytest.raises(MoveInProgress):
        check_turn(a_delivery(claim=claim), "Pending", "Cancelled")


def test_a_moved_and_claimed_delivery_survives_its_document() -> None:
    claim = MoveClaim("Delivered", "token", NOON + timedelta(seconds=30))
    delivery = a_delivery().moved("Shipped", NOON).moved("In Transit", NOON).claimed(claim)
    assert Delivery.from_doc(delivery.to_doc()) == delivery


def test_a_document_stored_before_moves_existed_still_reads() -> None:
    doc: dict[str, Any] = a_delivery().to_doc()
    del doc["claim"]
    assert Delivery.from_doc(doc) == a_delivery()
