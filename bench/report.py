"""A run's figures as ratios to its own baselines (bare app, direct GET) against targets, in Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.balance import Balance
from bench.instances import TwoInstances
from bench.load import Result
from bench.pauses import Pauses, describe
from bench.redis_count import Counted


@dataclass
class StoreRun:
    """Everything measured on one store (json or redis) in one run."""

    store: str
    bare: list[Result] = field(default_factory=list)  # the bare FastAPI app, one per round
    # The direct GET signs each call (a signature is good for one use), which wrk cannot: it and
    # this second measure of the bare app go through the Python load generator, for a fair ratio.
    bare_python: list[Result] = field(default_factory=list)
    direct: list[Result] = field(default_factory=list)  # one per round
    gateway: Result | None = None
    nginx: Result | None = None
    orders: Result | None = None  # peak, closed loop, (nearly) empty store, spread over 50 books
    flash: Result | None = None  # the same, every order for one book (a flash sale)
    latency: list[Result] = field(default_factory=list)  # open loop, by offered load
    orders_full: Result | None = None  # peak, closed loop, after the preload
    # CPU ms per order by process during the peak run (the profile in one line: who does the work)
    cpu_per_order: dict[str, float] = field(default_factory=dict)
    cpu_per_get: dict[str, float] = field(default_factory=dict)  # the same for a direct GET
    redis_per_order: float = 0.0  # commands Redis ran per order, scripts' own included
    redis_client: Counted | None = None  # MONITOR over a short run of its own
    redis_client_orders: int = 0  # the orders of that run
    # Orders/s with Redis syncing its append-only file on every write, and without, alternated
    fsync_always: Result | None = None
    fsync_off: Result | None = None
    balance: Balance | None = None  # after the overload runs
    gc_at_half: dict[str, Pauses] = field(default_factory=dict)  # GC pauses in the 50% run
    two_instances: TwoInstances | None = None  # Redis: the same orders on two of every service
    preloaded: int = 0
    preload_seconds: float = 0.0

    @property
    def direct_rps(self) -> float:
        return _mean_rps(self.direct)

    @property
    def bare_rps(self) -> float:
        return _mean_rps(self.bare)

    @property
    def direct_ratio(self) -> float:
        """The direct GET ÷ the bare app, both driven by the same (Python) load generator."""
        return self.direct_rps / (_mean_rps(self.bare_python) if self.bare_python else self.bare_rps)

    @property
    def direct_as_wrk_rps(self) -> float:
        """The direct GET in the units of the wrk runs (its ratio times wrk's bare app), to compare
        with the gateway's GET and the orders, which wrk drives."""
        if not self.bare_python:  # both by one generator: nothing to convert
            return self.direct_rps
        return self.direct_ratio * self.bare_rps

    def at_share(self, share: float) -> Result | None:
        """The open-loop point offered at `share` of the peak."""
        return next((r for r in self.latency if r.share == share), None)

    def per_order(self, counted: int) -> float:
        return counted / self.redis_client_orders if self.redis_client_orders else math.nan


def _mean_rps(results: list[Result]) -> float:
    return sum(r.rps for r in results) / len(results) if results else math.nan


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str  # "×" for a ratio, "ms", "" for a count
    target: str  # "≥ 0.8", "≤ 50", or "" when there is none
    met: bool | None
    failed: float = 0.0  # the share of requests that failed in the run behind a latency


def _failed(r: Result | None) -> float:
    return r.errors / r.requests if r is not None and r.requests else 0.0


def _check(value: float, target: str) -> bool | None:
    if not target or math.isnan(value):
        return None
    op, bound = target.split()
    return value >= float(bound) if op == "≥" else value <= float(bound)


def _ratio(a: Result | None, b: float) -> float:
    return a.rps / b if a is not None and b > 0 else math.nan


def _p(point: Result | None, q: str) -> float:
    return float(getattr(point, q)) if point is not None else math.nan


def figures(run: StoreRun) -> list[Figure]:
    quarter, half, three_q = run.at_share(0.25), run.at_share(0.5), run.at_share(0.75)
    counted = run.redis_client
    redis = run.store == "redis"
    # (name, value, unit, target, the open-loop point behind a latency)
    rows: list[tuple[str, float, str, str, Result | None]] = [
        ("direct GET ÷ bare FastAPI", run.direct_ratio, "×", "≥ 0.7", None),
        ("gateway GET ÷ bare FastAPI", _ratio(run.gateway, run.bare_rps), "×", "≥ 0.6", None),
        ("orders/s ÷ bare FastAPI", _ratio(run.orders, run.bare_rps), "×", "≥ 0.15", None),
        ("flash-sale orders/s ÷ bare FastAPI", _ratio(run.flash, run.bare_rps), "×", "", None),
        ("gateway GET ÷ direct GET", _ratio(run.gateway, run.direct_as_wrk_rps), "×", "≥ 0.8", None),
        ("nginx → gateway GET ÷ direct GET", _ratio(run.nginx, run.direct_as_wrk_rps), "×", "", None),
        ("orders/s ÷ direct GET", _ratio(run.orders, run.direct_as_wrk_rps), "×", "≥ 0.15", None),
        ("flash-sale orders/s ÷ spread over 50 books", _ratio(run.flash, _rps(run.orders)), "×", "", None),
        (
            f"orders/s with {run.preloaded:,} stored ÷ empty",
            _ratio(run.orders_full, _rps(run.orders)),
            "×",
            "≥ 0.9",
            None,
        ),
        ("p99 order latency at 25% of peak", _p(quarter, "p99"), "ms", "", quarter),
        ("p99 order latency at 50% of peak", _p(half, "p99"), "ms", "" if redis else "≤ 25", half),
        ("p50 order latency at 50% of peak", _p(half, "p50"), "ms", "", half),
        ("p99 order latency at 75% of peak", _p(three_q, "p99"), "ms", "", three_q),
        (
            "Redis client round trips per order (MONITOR)",
            run.per_order(counted.round_trips) if counted else math.nan,
            "",
            "≤ 8",
            None,
        ),
        (
            "Redis client commands per order (MONITOR)",
            run.per_order(counted.client_commands) if counted else math.nan,
            "",
            "",
            None,
        ),
        ("Redis commands run per order, scripts' included", run.redis_per_order or math.nan, "", "", None),
        (
            "orders/s, Redis appendfsync always ÷ off",
            _ratio(run.fsync_always, _rps(run.fsync_off)),
            "×",
            "",
            None,
        ),
    ]
    out = []
    for name, value, unit, target, point in rows:
        failed = _failed(point)
        # A latency measured while requests failed (the system overloaded) meets no target.
        met = (False if target else None) if failed > 0.01 else _check(value, target)
        out.append(Figure(name, value, unit, target, met, failed if failed > 0.01 else 0.0))
    return out


def _rps(r: Result | None) -> float:
    return r.rps if r is not None else math.nan


def _fmt(value: float, unit: str, failed: float = 0.0) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "":
        return f"{value:.1f}"
    text = f"{value:.2f}" if unit == "×" else "> 5 s" if math.isinf(value) else f"{value:.1f} ms"
    return f"{text} ({failed:.0%} failed)" if failed else text


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: ""}[met]


def figures_table(runs: list[StoreRun]) -> str:
    stores = [run.store for run in runs]
    lines = [
        "| figure | target | " + " | ".join(stores) + " |",
        "|---|---|" + "---|" * len(stores),
    ]
    all_figures = [figures(run) for run in runs]
    for i, first in enumerate(all_figures[0]):
        cells = [
            f"{_fmt(f[i].value, f[i].unit, f[i].failed)} {_verdict(f[i].met)}".strip() for f in all_figures
        ]
        lines.append(f"| {first.name} | {first.target or '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "> 5000" if math.isinf(value) else f"{value:.1f}"


def _row(label: str, r: Result | None) -> str:
    if r is None:
        return f"| {label} | n/a | | | | | |"
    offered = f"{r.offered:.0f}" if r.offered else "closed loop"
    return (
        f"| {label} | {offered} | {r.rps:,.0f} | {_ms(r.p50)} | {_ms(r.p90)} | {_ms(r.p99)} | "
        f"{r.errors}/{r.requests} |"
    )


def raw_table(run: StoreRun) -> str:
    lines = [
        "| run | offered/s | answered/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, (bare, direct) in enumerate(zip(run.bare, run.direct, strict=False)):
        lines.append(_row(f"bare FastAPI GET /api/books/123 (round {i + 1})", bare))
        if i < len(run.bare_python):
            lines.append(_row(f"bare FastAPI GET, Python load generator (round {i + 1})", run.bare_python[i]))
        lines.append(_row(f"direct GET /api/books/123, signed per call (round {i + 1})", direct))
    lines.append(_row("gateway GET /api/books/123 (mean of rounds)", run.gateway))
    lines.append(_row("nginx → gateway GET /api/books/123 (mean of rounds)", run.nginx))
    lines.append(_row("POST /api/orders, peak, empty store (mean of rounds)", run.orders))
    lines.append(_row("POST /api/orders, peak, all for one book (mean of rounds)", run.flash))
    for r in run.latency:
        lines.append(_row(f"POST /api/orders at {r.share or 0:.0%} of the peak just before", r))
    lines.append(_row(f"POST /api/orders, peak, {run.preloaded:,} stored (mean of rounds)", run.orders_full))
    if run.fsync_always is not None:
        lines.append(_row("POST /api/orders, peak, Redis appendfsync always (mean)", run.fsync_always))
        lines.append(_row("POST /api/orders, peak, the same alternated, no AOF (mean)", run.fsync_off))
    return "\n".join(lines)


def overload_table(run: StoreRun) -> str:
    """Past the peak: what was served (goodput), how fast, and how the rest failed, against issue 17's
    targets: goodput ≥ 0.9 of the peak, the served p99 ≤ 3 × the p99 at 50% of the peak, refusals'
    p99 ≤ 20 ms, no 504 and no client timeout."""
    half = run.at_share(0.5)
    served_bound = 3 * _p(half, "p99")
    lines = [
        f"| offered, share of peak | goodput ÷ peak (≥ 0.9) | goodput ÷ offered | p99 served ms "
        f"(≤ 3 × p99 at 50% = {_ms(served_bound)}) | p99 refusals ms (≤ 20) | refused (429/503) "
        "| 504 (none) | no answer in 5 s (none) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in run.latency:
        if r.share is None or r.share <= 1 or not r.offered or not r.requests:
            continue
        goodput = r.rps / (r.offered / r.share)  # of the peak the share was taken of
        served = None if math.isnan(served_bound) else r.p99 <= served_bound
        refusals = (
            "—" if math.isnan(r.p99_refused) else f"{_ms(r.p99_refused)} {_verdict(r.p99_refused <= 20)}"
        )
        lines.append(
            f"| {r.offered:.0f}/s, {r.share:.0%} | {goodput:.2f} {_verdict(goodput >= 0.9)} | "
            f"{r.rps / r.offered:.2f} | {_ms(r.p99)} {_verdict(served)} | "
            f"{refusals} | {r.refused / r.requests:.1%} | "
            f"{r.gateway_timeouts / r.requests:.1%} {_verdict(r.gateway_timeouts == 0)} | "
            f"{r.timeouts / r.requests:.1%} {_verdict(r.timeouts == 0)} |"
        )
    if run.gc_at_half:
        lines.append(f"\nGarbage collections during the 50% run, by process: {describe(run.gc_at_half)}.")
    if run.balance is not None:
        b = run.balance
        verdict = "the books balance" if b.ok else f"**the books do not balance**: {b.off or ''}"
        lines.append(f"\nAfterwards, over {b.orders:,} orders ({b.pending} still Pending): {verdict}.")
    return "\n".join(lines)


def stores_table(runs: list[StoreRun]) -> str:
    """Redis against JSON (issue 15's targets), each side first divided by the bare FastAPI app of
    its own run, so the machine's drift between the two stores' runs cancels out."""
    by_store = {run.store: run for run in runs}
    if not {"json", "redis"} <= by_store.keys():
        return ""
    j, r = by_store["json"], by_store["redis"]

    def norm(run: StoreRun, result: Result | None) -> float:
        return _ratio(result, run.bare_rps)

    half_j, half_r = j.at_share(0.5), r.at_share(0.5)
    rows = [
        ("direct GET", r.direct_ratio / j.direct_ratio, "≥ 0.9"),
        ("orders/s spread over 50 books", norm(r, r.orders) / norm(j, j.orders), "≥ 0.9"),
        ("orders/s all for one book", norm(r, r.flash) / norm(j, j.flash), "≥ 0.9"),
        ("p99 order latency at 50% of each one's peak", _p(half_r, "p99") / _p(half_j, "p99"), "≤ 1.5"),
    ]
    lines = ["| Redis ÷ JSON | target | value |", "|---|---|---|"]
    for name, value, target in rows:
        lines.append(f"| {name} | {target} | {_fmt(value, '×')} {_verdict(_check(value, target))} |")
    return "\n".join(lines)


def cpu_table(runs: list[StoreRun]) -> str:
    names = list(dict.fromkeys(name for run in runs for name in run.cpu_per_order))
    lines = [
        "| CPU ms per request | " + " | ".join(names) + " | total |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for run in runs:
        for label, used in (
            (f"order ({run.store})", run.cpu_per_order),
            (f"direct GET ({run.store})", run.cpu_per_get),
        ):
            cells = [f"{used.get(name, 0):.2f}" for name in names]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {sum(used.values()):.2f} |")
    return "\n".join(lines)
