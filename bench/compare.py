"""One change's figure: two commits' systems side by side, measured in alternated rounds against
the bare FastAPI app, by CPU per request (the steadier figure on a shared machine) and rate.

    python -m bench.compare BASE NEW [--store json|redis] [--rounds 3] [--seconds 4]

Each commit is exported (`git archive`) to a temp dir and its processes run that code; the load,
the bare app and the measuring are this checkout's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

from bench import load
from bench.measure import BOOK, BOOKS, Bench, _per_request, say
from bench.system import AUTH, BareApp, BenchSystem, RedisServer

FIGURES = (
    "bare GET/s",
    "direct GET/s",
    "gateway GET/s",
    "orders/s",
    "inventory ms/GET",
    "bare ms/GET",
    "ms/gateway GET",
    "ms/order",
)


def export(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def one_round(bench: Bench, system: BenchSystem, bare: BareApp, books: list[str]) -> dict[str, float]:
    before = bare.cpu_seconds()
    b = bench.get(bare.url + BOOK, {})
    bare_ms = (bare.cpu_seconds() - before) * 1000 / max(b.requests, 1)
    before_all = system.cpu_seconds()
    direct = bench.get(system.inventory_url + BOOK, lambda: system.signed("GET", BOOK))
    per_get = _per_request(before_all, system.cpu_seconds(), direct)
    before_all = system.cpu_seconds()
    forwarded = bench.get(system.url + BOOK, AUTH)
    per_forwarded = _per_request(before_all, system.cpu_seconds(), forwarded)
    before_all = system.cpu_seconds()
    orders = bench.orders(system, books)
    per_order = _per_request(before_all, system.cpu_seconds(), orders)
    values = (
        b.rps,
        direct.rps,
        forwarded.rps,
        orders.rps,
        per_get["inventory"],
        bare_ms,
        sum(per_forwarded.values()),
        sum(per_order.values()),
    )
    return dict(zip(FIGURES, values, strict=True))


def table(rounds: dict[str, list[dict[str, float]]]) -> str:
    """Each figure's mean and range per commit, and the last commit's mean ÷ the first's."""
    commits = list(rounds)
    lines = ["| figure | " + " | ".join(commits) + " | ÷ |", "|---|" + "---|" * (len(commits) + 1)]
    for figure in FIGURES:
        cells, means = [], []
        for commit in commits:
            values = [r[figure] for r in rounds[commit]]
            means.append(mean(values))
            cells.append(f"{means[-1]:.3g} ({min(values):.3g}–{max(values):.3g})")
        lines.append(f"| {figure} | " + " | ".join(cells) + f" | {means[-1] / means[0]:.2f} |")
    return "\n".join(lines)


def compare(commits: list[str], store: str, rounds: int, seconds: float, loadgen: str) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        root = Path(tmp)
        redis = RedisServer(root) if store == "redis" else None
        if redis:
            redis.start()
        systems = {}
        for n, commit in enumerate(commits):
            url = redis.url.removesuffix("/0") + f"/{n}" if redis else None
            code = export(commit, root / "code" / commit)
            (root / f"system-{n}").mkdir()
            systems[commit] = BenchSystem(root / f"system-{n}", store, url, code=code)
        results: dict[str, list[dict[str, float]]] = {commit: [] for commit in commits}
        try:
            with BareApp(root) as bare:
                bench = Bench(loadgen, seconds)
                for system in systems.values():
                    system.start()
                    books = system.stock_up(BOOKS, 1_000_000)
                    bench.get(system.url + BOOK, AUTH, seconds=1)
                    bench.orders(system, books, seconds=1)
                for i in range(rounds):
                    for commit, system in systems.items():
                        say(f"round {i + 1}/{rounds}: {commit}")
                        results[commit].append(one_round(bench, system, bare, books))
        finally:
            for system in systems.values():
                system.close()
            if redis:
                redis.stop()
    return table(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs=2, metavar="COMMIT")
    parser.add_argument("--store", choices=["json", "redis"], default="json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4)
    default_loadgen = "wrk" if load.wrk_available() else "python"
    parser.add_argument("--loadgen", choices=["wrk", "python"], default=default_loadgen)
    args = parser.parse_args(argv)
    print(compare(args.commits, args.store, args.rounds, args.seconds, args.loadgen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
