"""Where each process spends its time under load: py-spy records every service and the gateway
while the benchmark's load runs, and prints each one's top frames (for bench/notes.md).

    python -m bench.profile [--store json|redis] [--load orders|get|flash] [--seconds 10] [--out DIR]

`--load get` is the direct GET at inventory (signed as the gateway signs), `gateway-get` the same GET
through the gateway, `orders` the spread
orders through the gateway, `flash` every order for one book. DIR gets one collapsed-stack file per
process (`<name>.txt`: flamegraph.pl or speedscope.app draw it), or an SVG each with `--svg`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench import load
from bench.measure import BOOK, BOOKS, FLASH_BOOK, Bench, say
from bench.system import AUTH, BenchSystem, RedisServer

_LINE_NUMBER = re.compile(r":\d+\)")


def _frame(raw: str) -> str:
    return _LINE_NUMBER.sub(")", raw.strip())


def top(collapsed: Iterable[str], n: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From collapsed stacks (`a;b;c 12` per line): the `n` frames with the most samples of their
    own (self) and the `n` most often on the stack at all (total), each as a share of the samples."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for line in collapsed:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    if not samples:
        return [], []
    return (
        [(f, c / samples) for f, c in own.most_common(n)],
        [(f, c / samples) for f, c in anywhere.most_common(n)],
    )


def report(name: str, collapsed: Iterable[str], n: int = 15) -> str:
    own, anywhere = top(collapsed, n)
    lines = [f"## {name}", "", "self:"]
    lines += [f"  {share:6.1%}  {frame}" for frame, share in own]
    lines += ["total (on the stack):"]
    lines += [f"  {share:6.1%}  {frame}" for frame, share in anywhere]
    return "\n".join(lines)


def _record(pid: int, seconds: float, out: Path, svg: bool) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    args = ["record", "--pid", str(pid), "--duration", f"{seconds:.0f}", "--rate", "100", "--nonblocking"]
    args += ["--format", "flamegraph" if svg else "raw", "--output", str(out)]
    return subprocess.Popen(
        [str(spy), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _load(bench: Bench, system: BenchSystem, kind: str, books: list[str], seconds: float) -> load.Result:
    if kind == "get":
        return bench.get(system.inventory_url + BOOK, lambda: system.signed("GET", BOOK), seconds=seconds)
    if kind == "gateway-get":
        return bench.get(system.url + BOOK, AUTH, seconds=seconds)
    return bench.orders(system, [FLASH_BOOK] if kind == "flash" else books, seconds=seconds)


def profile(store: str, kind: str, seconds: float, out: Path, svg: bool, loadgen: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = Path(tmp)
        redis = RedisServer(root) if store == "redis" else None
        if redis:
            redis.start()
        system = BenchSystem(root, store, redis.url if redis else None)
        try:
            system.start()
            books = system.stock_up(BOOKS, 1_000_000)
            bench = Bench(loadgen, seconds)
            _load(bench, system, kind, books, 2)  # warm-up
            names = {"get": ["inventory"], "gateway-get": ["gateway", "inventory"]}.get(
                kind, ["gateway", "sales", "inventory"]
            )
            suffix = "svg" if svg else "txt"
            spies = {n: _record(system.processes[n].pid, seconds, out / f"{n}.{suffix}", svg) for n in names}
            result = _load(bench, system, kind, books, seconds)
            for name, spy in spies.items():
                if spy.wait(seconds + 30) != 0:
                    say(f"py-spy on {name} failed: {spy.stderr.read().decode() if spy.stderr else ''}")
        finally:
            system.close()
            if redis:
                redis.stop()
    say(f"{kind} on the {store} store: {result.rps:,.0f}/s, p99 {result.p99:.1f} ms under py-spy")
    if not svg:
        for name in names:
            path = out / f"{name}.txt"
            if path.exists():
                print(report(name, path.read_text().splitlines()), "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["json", "redis"], default="json")
    parser.add_argument("--load", choices=["orders", "get", "gateway-get", "flash"], default="orders")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-profile"))
    parser.add_argument("--svg", action="store_true", help="flame graphs instead of collapsed stacks")
    default_loadgen = "wrk" if load.wrk_available() else "python"
    parser.add_argument("--loadgen", choices=["wrk", "python"], default=default_loadgen)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    profile(args.store, args.load, args.seconds, args.out, args.svg, args.loadgen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
