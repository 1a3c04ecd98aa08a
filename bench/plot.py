"""The plot beside docs/benchmarks.md: order latency against offered load, one panel per store."""

from __future__ import annotations

from pathlib import Path

from bench.report import StoreRun


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
        ax.axhline(25, color="grey", linestyle="--", linewidth=0.8, label="25 ms target (at 50%)")
        ax.set_title(f"POST /api/orders through the gateway ({run.store} store)")
        ax.set_xlabel("offered load (orders/s, open loop)")
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
