"""The figures of a run as ratios to its own baseline, checked against the issue's targets, written
as a Markdown report and a plot of latency against offered load."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import Result


@dataclass
class StoreRun:
    """Everything measured on one store (json or redis) in one run."""

    store: str
    direct: list[Result] = field(default_factory=list)  # before and after the proxied runs
    gateway: Result | None = None
    nginx: Result | None = None
    orders: Result | None = None  # peak, closed loop, (nearly) empty store
    latency: list[Result] = field(default_factory=list)  # open loop, by offered load
    orders_full: Result | None = None  # peak, closed loop, after the preload
    # CPU ms per order by process during the peak run (the profile in one line: who does the work)
    cpu_per_order: dict[str, float] = field(default_factory=dict)
    cpu_per_get: dict[str, float] = field(default_factory=dict)  # the same for a direct GET
    redis_per_order: float = 0.0  # Redis commands per order (Redis store only)
    preloaded: int = 0
    preload_seconds: float = 0.0

    @property
    def direct_rps(self) -> float:
        return sum(r.rps for r in self.direct) / len(self.direct) if self.direct else math.nan

    def at_share(self, share: float) -> Result | None:
        """The open-loop point offered at `share` of the peak."""
        return next((r for r in self.latency if r.share == share), None)


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str  # "×" for a ratio, "ms"
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


def figures(run: StoreRun) -> list[Figure]:
    half = run.at_share(0.5)
    full = run.at_share(1.0)
    rows = [
        ("gateway GET ÷ direct GET", _ratio(run.gateway, run.direct_rps), "×", "≥ 0.8"),
        ("nginx → gateway GET ÷ direct GET", _ratio(run.nginx, run.direct_rps), "×", ""),
        ("orders/s ÷ direct GET", _ratio(run.orders, run.direct_rps), "×", "≥ 0.15"),
        (
            f"orders/s with {run.preloaded:,} stored ÷ empty",
            _ratio(run.orders_full, run.orders.rps if run.orders else math.nan),
            "×",
            "≥ 0.9",
        ),
        ("p99 order latency at 50% of peak", half.p99 if half else math.nan, "ms", "≤ 50"),
        ("p50 order latency at 50% of peak", half.p50 if half else math.nan, "ms", ""),
        ("p99 order latency at 100% of peak", full.p99 if full else math.nan, "ms", ""),
        ("p50 order latency at 100% of peak", full.p50 if full else math.nan, "ms", ""),
    ]
    out = [Figure(name, value, unit, target, _check(value, target)) for name, value, unit, target in rows]
    # A latency measured while requests failed (the system overloaded) meets no target.
    for i, point in ((4, half), (5, half), (6, full), (7, full)):
        if _failed(point) > 0.01:
            f = out[i]
            out[i] = Figure(f.name, f.value, f.unit, f.target, False if f.target else None, _failed(point))
    return out


def _fmt(value: float, unit: str, failed: float = 0.0) -> str:
    if math.isnan(value):
        return "n/a"
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
    for i, r in enumerate(run.direct):
        lines.append(_row(f"direct GET /api/books/123 (round {i + 1})", r))
    lines.append(_row("gateway GET /api/books/123 (mean of rounds)", run.gateway))
    lines.append(_row("nginx → gateway GET /api/books/123 (mean of rounds)", run.nginx))
    lines.append(_row("POST /api/orders, peak, empty store (mean of rounds)", run.orders))
    for r in run.latency:
        lines.append(_row(f"POST /api/orders at {r.share or 0:.0%} of the peak just before", r))
    lines.append(_row(f"POST /api/orders, peak, {run.preloaded:,} stored (mean of rounds)", run.orders_full))
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
    redis = [f"{run.redis_per_order:.1f} on the {run.store} store" for run in runs if run.redis_per_order]
    if redis:
        lines.append(f"\nRedis commands per order (INFO commandstats): {', '.join(redis)}.")
    return "\n".join(lines)


def plot(runs: list[StoreRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.5), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        points = [r for r in run.latency if r.offered]
        offered = [r.offered or 0 for r in points]
        for name, values in (
            ("p50", [min(r.p50, 5000) for r in points]),
            ("p90", [min(r.p90, 5000) for r in points]),
            ("p99", [min(r.p99, 5000) for r in points]),
        ):
            ax.plot(offered, values, marker="o", label=name)
        ax.axhline(50, color="grey", linestyle="--", linewidth=0.8, label="50 ms target (at 50%)")
        ax.set_title(f"POST /api/orders through the gateway ({run.store} store)")
        ax.set_xlabel("offered load (orders/s, open loop)")
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
