"""Two instances of every service on one Redis (issue 15): peak orders/s, spread and all for one book,
in the same rounds as the one-instance runs, and the books balance afterwards (each unit sold once)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.balance import Balance
from bench.load import Result, combine

TARGET = "≥ 1.0"  # two instances serve at least what one does


@dataclass
class TwoInstances:
    """What the two-instance system measured; the one-instance figures are the store run's own."""

    spread: list[Result] = field(default_factory=list)  # one per round, over the 50 books
    flash: list[Result] = field(default_factory=list)  # one per round, every order for one book
    balance: Balance | None = None  # after its runs


def rows(two: TwoInstances, one_spread: Result | None, one_flash: Result | None) -> list[tuple[str, float]]:
    """Two instances ÷ one, orders/s, each the mean of the rounds both ran in."""
    return [
        ("two instances ÷ one, orders/s spread over 50 books", _ratio(two.spread, one_spread)),
        ("two instances ÷ one, orders/s all for one book", _ratio(two.flash, one_flash)),
    ]


def _ratio(two: list[Result], one: Result | None) -> float:
    both = combine(two)
    if both is None or one is None or one.rps <= 0:
        return math.nan
    return both.rps / one.rps


def verdict(balance: Balance | None) -> str:
    if balance is None:
        return "not checked"
    if balance.ok:
        return f"each unit sold once over {balance.orders:,} orders, none Pending: met"
    return (
        f"**missed**: over {balance.orders:,} orders, {balance.pending} still Pending, "
        f"units off by book {balance.off or '{}'}"
    )


def _failed(results: list[Result | None]) -> float:
    """The share of requests that failed over `results` (a ratio of failures means nothing)."""
    done = [r for r in results if r is not None]
    requests = sum(r.requests for r in done)
    return sum(r.errors for r in done) / requests if requests else 0.0


def _cell(value: float, failed: float) -> str:
    if math.isnan(value):
        return "n/a"
    if failed > 0.01:
        return f"{value:.2f} ({failed:.0%} failed) **missed**"
    return f"{value:.2f} {'met' if value >= 1.0 else '**missed**'}"


def _raw(results: list[Result]) -> str:
    both = combine(results)
    return "n/a" if both is None else f"{both.rps:,.0f}/s, {both.errors}/{both.requests} failed"


def table(two: TwoInstances | None, one_spread: Result | None, one_flash: Result | None) -> str:
    """The Markdown table: the two ratios and the books balance; empty when nothing was measured."""
    if two is None:
        return ""
    lines = [
        "| two instances of every service, one Redis | target | value | two instances | one |",
        "|---|---|---|---|---|",
    ]
    for (name, value), mine, one in zip(
        rows(two, one_spread, one_flash), (two.spread, two.flash), (one_spread, one_flash), strict=True
    ):
        cell = _cell(value, _failed([*mine, one]))
        lines.append(f"| {name} | {TARGET} | {cell} | {_raw(mine)} | {_raw([one] if one else [])} |")
    lines.append(f"| the books balance after its runs | each unit sold once | {verdict(two.balance)} | | |")
    return "\n".join(lines)
