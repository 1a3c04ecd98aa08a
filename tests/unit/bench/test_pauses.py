"""GC pauses read off a process's /metrics, and their difference over a run."""

from __future__ import annotations

import pytest

from bench.pauses import Pauses, describe, during, parse

METRICS = """\
# HELP gc_pause_seconds Time each garbage collection stopped the process.
# TYPE gc_pause_seconds histogram
gc_pause_seconds_bucket{generation="0",le="0.001"} 90.0
gc_pause_seconds_bucket{generation="0",le="0.005"} 100.0
gc_pause_seconds_bucket{generation="0",le="+Inf"} 100.0
gc_pause_seconds_count{generation="0"} 100.0
gc_pause_seconds_sum{generation="0"} 0.05
gc_pause_seconds_bucket{generation="2",le="0.001"} 0.0
gc_pause_seconds_bucket{generation="2",le="0.005"} 1.0
gc_pause_seconds_bucket{generation="2",le="+Inf"} 3.0
gc_pause_seconds_count{generation="2"} 3.0
gc_pause_seconds_sum{generation="2"} 0.06
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/x",status="200"} 7.0
"""


def test_pauses_of_every_generation_with_the_long_ones_apart() -> None:
    found = parse(METRICS)

    assert (found.count, found.long) == (103, 2)
    assert found.seconds == pytest.approx(0.11)
    assert parse("") == Pauses()


def test_pauses_during_a_run_are_the_difference_and_read_as_a_sentence() -> None:
    before = {"sales": Pauses(100, 0.05, 0), "gone": Pauses(1, 0.1, 0)}
    after = {"sales": Pauses(103, 0.11, 2)}

    moved = during(before, after)

    assert moved == {"sales": Pauses(3, pytest.approx(0.06), 2)}  # type: ignore[arg-type]
    assert describe(moved) == "sales 3 (60 ms in all, 2 over 5 ms)"
