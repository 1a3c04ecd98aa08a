"""The comparison of two commits: each figure's mean and range, and the new one's mean ÷ the base's."""

from __future__ import annotations

from bench.compare import FIGURES, table


def rounds(**figures: float) -> list[dict[str, float]]:
    base = dict.fromkeys(FIGURES, 1.0)
    return [{**base, **figures}, {**base, **{k: v * 3 for k, v in figures.items()}}]


def test_each_figure_with_its_mean_range_and_the_ratio_of_the_means() -> None:
    text = table({"aaa": rounds(**{"inventory ms/GET": 0.25}), "bbb": rounds(**{"inventory ms/GET": 0.2})})

    assert text.splitlines()[0] == "| figure | aaa | bbb | ÷ |"
    assert "| inventory ms/GET | 0.5 (0.25–0.75) | 0.4 (0.2–0.6) | 0.80 |" in text
    assert "| orders/s | 1 (1–1) | 1 (1–1) | 1.00 |" in text
