"""Issue 15's two-instance figures: orders/s of two instances of every service on one Redis ÷ one
instance's in the same rounds, spread and all for one book, and the books balance afterwards."""

from __future__ import annotations

import math

from bench.balance import balance
from bench.instances import TwoInstances, rows, table
from tests.unit.bench.test_bench import result


def test_two_instances_are_divided_by_the_mean_of_the_rounds_against_one_instance() -> None:
    two = TwoInstances(spread=[result(300), result(500)], flash=[result(90), result(110)])

    by_name = dict(rows(two, one_spread=result(400), one_flash=result(125)))

    assert by_name["two instances ÷ one, orders/s spread over 50 books"] == 1.0
    assert by_name["two instances ÷ one, orders/s all for one book"] == 0.8


def test_the_table_checks_each_ratio_against_at_least_one_and_gives_the_balance_verdict() -> None:
    sold_once = balance(
        {"a": 10}, {"a": 8}, [{"status": "Confirmed", "books": [{"book_id": "a", "quantity": 2}]}]
    )
    two = TwoInstances(spread=[result(440)], flash=[result(90)], balance=sold_once)

    text = table(two, one_spread=result(400), one_flash=result(100))

    assert "| two instances ÷ one, orders/s spread over 50 books | ≥ 1.0 | 1.10 met |" in text
    assert "| two instances ÷ one, orders/s all for one book | ≥ 1.0 | 0.90 **missed** |" in text
    assert "each unit sold once over 1 orders, none Pending: met" in text


def test_a_unit_sold_twice_or_an_order_left_pending_is_a_missed_balance() -> None:
    orders = [
        {"status": "Confirmed", "books": [{"book_id": "a", "quantity": 2}]},
        {"status": "Pending", "books": [{"book_id": "a", "quantity": 1}]},
    ]
    sold_twice = balance({"a": 10}, {"a": 9}, orders)  # one unit left the stock, two were sold

    text = table(
        TwoInstances(spread=[result(1)], flash=[result(1)], balance=sold_twice), result(1), result(1)
    )

    assert "**missed**: over 2 orders, 1 still Pending, units off by book {'a': -1}" in text


def test_nothing_measured_gives_no_table_and_a_missing_run_no_verdict() -> None:
    assert table(None, result(400), result(100)) == ""
    text = table(TwoInstances(), one_spread=None, one_flash=result(100))
    assert "| two instances ÷ one, orders/s spread over 50 books | ≥ 1.0 | n/a |" in text
    assert "not checked" in text
    assert all(math.isnan(value) for _, value in rows(TwoInstances(), result(400), result(100)))


def test_a_ratio_over_runs_that_failed_meets_no_target_and_shows_each_side() -> None:
    # 429s answered fast would make two instances look faster: the failures must show and miss.
    two = TwoInstances(spread=[result(900, errors=50)], flash=[result(100)])

    text = table(two, one_spread=result(300), one_flash=result(100))

    assert "| ≥ 1.0 | 3.00 (25% failed) **missed** | 900/s, 50/100 failed | 300/s, 0/100 failed |" in text
    assert "| ≥ 1.0 | 1.00 met | 100/s, 0/100 failed | 100/s, 0/100 failed |" in text
