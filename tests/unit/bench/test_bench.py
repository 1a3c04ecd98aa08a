"""The benchmark's pure parts: reading wrk's output, combining rounds, ratios against targets, the table."""

from __future__ import annotations

import math

import pytest

from bench.load import Result, combine, parse_wrk, percentile
from bench.report import StoreRun, figures, figures_table

WRK_OUTPUT = """Running 6s test @ http://127.0.0.1:21000/api/orders
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    43.86ms   12.47ms 150.12ms   80.77%
    Req/Sec   735.53     92.53     0.89k    71.67%
  Latency Distribution
     50%   41.52ms
     75%   48.85ms
     90%  580.00us
     99%    1.20s
  4413 requests in 6.00s, 1.83MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:    735.18
Transfer/sec:    312.45KB
"""


def result(
    rps: float, p99: float = 10.0, share: float | None = None, errors: int = 0, offered: float | None = None
) -> Result:
    return Result(
        rps=rps, p50=1.0, p90=5.0, p99=p99, requests=100, errors=errors, offered=offered, share=share
    )


def test_wrk_output_gives_the_rate_of_2xx_answers_the_percentiles_in_ms_and_every_failure() -> None:
    parsed = parse_wrk(WRK_OUTPUT)

    assert parsed.rps == pytest.approx(735.18 * (4413 - 7) / 4413)  # fast refusals are not throughput
    assert (parsed.p50, parsed.p90, parsed.p99) == (41.52, 0.58, 1200.0)
    assert parsed.requests == 4413
    assert parsed.errors == 7 + 3  # non-2xx answers and socket errors


def test_rounds_combine_into_their_mean_rate_and_summed_counts() -> None:
    combined = combine([result(100), result(300)])

    assert combined is not None
    assert combined.rps == 200
    assert combined.requests == 200
    assert combine([]) is None


def test_percentiles_of_sorted_latencies() -> None:
    latencies = [float(n) for n in range(1, 101)]

    assert percentile(latencies, 50) == 51
    assert percentile(latencies, 99) == 100
    assert math.isnan(percentile([], 50))


def a_run(direct: float, gateway: float, orders: float, full: float, p99_at_half: float) -> StoreRun:
    return StoreRun(
        "json",
        direct=[result(direct - 100), result(direct + 100)],
        gateway=result(gateway),
        nginx=None,
        orders=result(orders),
        latency=[
            result(orders / 2, p99=p99_at_half, share=0.5, offered=orders / 2),
            result(orders * 0.75, share=0.75, errors=30, offered=orders * 0.75),
        ],
        orders_full=result(full),
        preloaded=100_000,
    )


def test_figures_are_ratios_to_the_runs_own_baseline_checked_against_the_targets() -> None:
    by_name = {f.name: f for f in figures(a_run(1000, 900, 100, 95, p99_at_half=60))}

    assert by_name["gateway GET ÷ direct GET"].value == pytest.approx(0.9)
    assert by_name["gateway GET ÷ direct GET"].met is True
    assert by_name["orders/s ÷ direct GET"].value == pytest.approx(0.1)
    assert by_name["orders/s ÷ direct GET"].met is False
    assert by_name["orders/s with 100,000 stored ÷ empty"].met is True
    assert by_name["p99 order latency at 50% of peak"].met is False
    assert by_name["nginx → gateway GET ÷ direct GET"].met is None  # not measured: no verdict


def test_the_table_shows_each_figure_with_its_target_and_verdict_per_store() -> None:
    table = figures_table([a_run(1000, 900, 200, 95, p99_at_half=20)])

    assert "| gateway GET ÷ direct GET | ≥ 0.8 | 0.90 met |" in table
    assert "| orders/s with 100,000 stored ÷ empty | ≥ 0.9 | 0.47 **missed** |" in table
    assert "| p99 order latency at 50% of peak | ≤ 25 | 20.0 ms met |" in table
    assert "| nginx → gateway GET ÷ direct GET | — | n/a |" in table
    # a latency measured while requests failed: the share that failed, and no target met
    assert "| p99 order latency at 75% of peak | — | 10.0 ms (30% failed) |" in table


def test_the_direct_get_is_compared_with_the_bare_app_driven_by_the_same_generator() -> None:
    """The direct GET signs every call, so the Python generator drives it; wrk drives the rest. Its
    ratio is to the bare app under the Python generator, and it enters the wrk figures scaled."""
    run = a_run(1000, 900, 100, 95, p99_at_half=20)
    run.bare = [result(10_000), result(10_000)]  # wrk
    run.bare_python = [result(2000), result(2000)]  # the Python generator tops out far lower
    by_name = {f.name: f for f in figures(run)}

    assert by_name["direct GET ÷ bare FastAPI"].value == pytest.approx(0.5)
    assert by_name["gateway GET ÷ direct GET"].value == pytest.approx(900 / 5000)
    assert by_name["gateway GET ÷ bare FastAPI"].value == pytest.approx(0.09)
