"""One store's measurements: the runs, in the order and rounds that make their ratios fair."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench import balance, load, pauses
from bench.instances import TwoInstances
from bench.load import Request, Result, combine
from bench.preload import preload_orders
from bench.redis_count import Counted, Monitor, commands_run
from bench.report import StoreRun
from bench.system import AUTH, BareApp, BenchSystem, Nginx, RedisServer

BOOK = "/api/books/123"
GET_CONNECTIONS = 50
ORDER_CONNECTIONS = 32
SHARES = (0.25, 0.5, 0.75, 1.5, 2.0)  # of the peak; past it, how the system sheds what it cannot serve
BOOKS = 50  # orders spread over this many books (the catalog seeds 3)
FLASH_BOOK = "123"  # the flash sale: every order for this one
ROUNDS = 2  # alternating rounds of the throughput runs


class Bench:
    def __init__(self, loadgen: str, seconds: float) -> None:
        self.loadgen = loadgen
        self.seconds = seconds

    def get(
        self, url: str, headers: dict[str, str] | Callable[[], dict[str, str]], seconds: float | None = None
    ) -> Result:
        """GETs of `url` with `headers`, or with a call's own (a signature is good for one call: wrk
        cannot sign, so those go through the Python load generator)."""
        seconds = seconds or self.seconds
        if self.loadgen == "wrk" and isinstance(headers, dict):
            return load.run_wrk(url, headers, seconds=seconds, connections=GET_CONNECTIONS)
        base, path = url.split(BOOK)[0], BOOK

        def make(_: int) -> Request:
            return "GET", path, headers if isinstance(headers, dict) else headers(), None

        return asyncio.run(load.closed_loop(base, make, seconds=seconds, connections=GET_CONNECTIONS))

    def orders(self, system: BenchSystem, books: list[str], seconds: float | None = None) -> Result:
        seconds = seconds or self.seconds
        if self.loadgen == "wrk":
            lua = load.ORDER_BODY_LUA % {"books": ", ".join(f'"{b}"' for b in books)}
            headers = {**AUTH, "Content-Type": "application/json"}
            return load.run_wrk(
                system.url + "/api/orders",
                headers,
                seconds=seconds,
                connections=ORDER_CONNECTIONS,
                method="POST",
                lua_body=lua,
            )
        return asyncio.run(
            load.closed_loop(system.url, order_maker(books), seconds=seconds, connections=ORDER_CONNECTIONS)
        )

    def orders_at(self, system: BenchSystem, books: list[str], rate: float) -> Result:
        return asyncio.run(load.open_loop(system.url, order_maker(books), rate=rate, seconds=self.seconds))


def order_maker(books: list[str]) -> load.MakeRequest:
    """POST /api/orders with a fresh Idempotency-Key each, customers and books taken in turn."""
    prefix = os.urandom(4).hex()

    def make(n: int) -> Request:
        body = {
            "customer_id": f"cust_{n % 100}",
            "books": [{"book_id": books[n % len(books)], "quantity": 1}],
            "payment_method": "credit_card",
            "payment_token": "tok_visa",
        }
        headers = {**AUTH, "Content-Type": "application/json", "Idempotency-Key": f"bench-{prefix}-{n}"}
        return "POST", "/api/orders", headers, orjson.dumps(body)

    return make


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def measure(bench: Bench, store: str, root: Path, preload: int) -> StoreRun:
    """Two systems side by side on the same store kind: `empty` (nearly: it keeps the orders the runs
    place) and `full` (preloaded), and the bare FastAPI app. Runs alternate in rounds, so a drift of
    the machine's load hits both sides of every ratio alike."""
    run = StoreRun(store)
    with contextlib.ExitStack() as stack:
        redis = None
        if store == "redis":
            (root / "redis").mkdir()
            redis = RedisServer(root / "redis")
            redis.start()
            stack.callback(redis.stop)
        (root / "empty").mkdir()
        (root / "full").mkdir()
        empty = BenchSystem(root / "empty", store, redis.url if redis else None)
        full_url = redis.url.removesuffix("/0") + "/1" if redis else None  # its own database
        full = BenchSystem(root / "full", store, full_url)
        nginx = Nginx(root, empty.port) if Nginx.available() else None
        say(f"{store}: preloading {preload:,} orders")
        started = time.perf_counter()
        asyncio.run(preload_orders(store, root / "full" / "data" / "sales", full_url, preload))
        run.preloaded, run.preload_seconds = preload, time.perf_counter() - started
        bare = stack.enter_context(BareApp(root))
        stack.callback(empty.close)
        empty.start()
        stack.callback(full.close)
        full.start()
        if nginx:
            stack.callback(nginx.stop)
            nginx.start()
        two = _two_instances(stack, root, redis) if redis else None
        books = empty.stock_up(BOOKS, 1_000_000)
        for other in (full, *([two] if two else [])):
            other.stock_up(BOOKS, 1_000_000)
        stock_before = balance.stocks(empty.url, AUTH, books)
        two_before = balance.stocks(two.url, AUTH, books) if two else {}
        bench.get(empty.url + BOOK, AUTH, seconds=2)  # warm-up: connections and first-call costs
        bench.get(bare.url + BOOK, {}, seconds=2)
        for system in (empty, full, *([two] if two else [])):
            bench.orders(system, books, seconds=2)
        _rounds(bench, run, empty, full, bare, nginx, redis, books, two)
        full.close()
        if two and run.two_instances:
            say(f"{store}: checking that the books balance on the two-instance system")
            run.two_instances.balance = balance.check(two.url, AUTH, two_before)
            two.close()
        if redis:
            run.redis_client, run.redis_client_orders = _monitored(bench, redis, empty, books)
            run.fsync_always, run.fsync_off = _fsync_always(bench, root, empty, books)
        _latency(bench, run, empty, books)
        say(f"{store}: checking that the books balance")
        run.balance = balance.check(empty.url, AUTH, stock_before)
    return run


def _rounds(
    bench: Bench,
    run: StoreRun,
    empty: BenchSystem,
    full: BenchSystem,
    bare: BareApp,
    nginx: Nginx | None,
    redis: RedisServer | None,
    books: list[str],
    two: BenchSystem | None = None,
) -> None:
    store = run.store
    gateway, proxied, orders, flash, orders_full = [], [], [], [], []
    twos = TwoInstances()
    for i in range(ROUNDS):
        say(f"{store}: round {i + 1}/{ROUNDS}: GET bare FastAPI, direct, through the gateway, nginx")
        run.bare.append(bench.get(bare.url + BOOK, {}))
        run.bare_python.append(bench.get(bare.url + BOOK, dict))  # a callable: the Python generator
        before = empty.cpu_seconds()
        run.direct.append(bench.get(empty.inventory_url + BOOK, lambda: empty.signed("GET", BOOK)))
        run.cpu_per_get = _per_request(before, empty.cpu_seconds(), run.direct[-1])
        gateway.append(bench.get(empty.url + BOOK, AUTH))
        if nginx:
            proxied.append(bench.get(nginx.url + BOOK, AUTH))
        say(f"{store}: round {i + 1}/{ROUNDS}: POST /api/orders at peak: spread, one book, preloaded")
        before, commands = empty.cpu_seconds(), _commands(redis)
        orders.append(bench.orders(empty, books))
        run.cpu_per_order = _per_request(before, empty.cpu_seconds(), orders[-1])
        if redis:
            run.redis_per_order = (_commands(redis) - commands) / max(orders[-1].requests, 1)
        flash.append(bench.orders(empty, [FLASH_BOOK]))
        orders_full.append(bench.orders(full, books))
        if two:
            say(f"{store}: round {i + 1}/{ROUNDS}: the same orders on two instances of every service")
            twos.spread.append(bench.orders(two, books))
            twos.flash.append(bench.orders(two, [FLASH_BOOK]))
    run.gateway, run.nginx = combine(gateway), combine(proxied)
    run.orders, run.flash, run.orders_full = combine(orders), combine(flash), combine(orders_full)
    run.two_instances = twos if two else None


def _two_instances(stack: contextlib.ExitStack, root: Path, redis: RedisServer) -> BenchSystem:
    """Two instances of every service behind one gateway, on the same Redis server (a database of
    its own), started for the rounds and closed after its books balance is checked."""
    (root / "two").mkdir()
    two = BenchSystem(root / "two", "redis", redis.url.removesuffix("/0") + "/2", instances=2)
    stack.callback(two.close)
    two.start()
    return two


def _monitored(
    bench: Bench, redis: RedisServer, system: BenchSystem, books: list[str]
) -> tuple[Counted, int]:
    """The commands clients send Redis per order, over a short run of its own (MONITOR slows it)."""
    say(f"{system.store}: counting Redis client commands per order (MONITOR, 2 s)")
    with Monitor("127.0.0.1", redis.port) as monitor:
        result = bench.orders(system, books, seconds=2)
    return monitor.counted(), result.requests


def _fsync_always(
    bench: Bench, root: Path, empty: BenchSystem, books: list[str]
) -> tuple[Result | None, Result | None]:
    """Orders/s on a Redis that syncs its append-only file on every write, alternated with the
    system measured so far."""
    (root / "always").mkdir()
    (root / "redis-always").mkdir()
    server = RedisServer(root / "redis-always", durable=True)
    server.start()
    system = BenchSystem(root / "always", "redis", server.url)
    try:
        system.start()
        system.stock_up(BOOKS, 1_000_000)
        bench.orders(system, books, seconds=2)
        always, off = [], []
        for i in range(ROUNDS):
            say(f"redis: round {i + 1}/{ROUNDS}: POST /api/orders at peak, appendfsync always and off")
            always.append(bench.orders(system, books))
            off.append(bench.orders(empty, books))
        return combine(always), combine(off)
    finally:
        system.close()
        server.stop()


def _latency(bench: Bench, run: StoreRun, empty: BenchSystem, books: list[str]) -> None:
    for share in SHARES:
        # The peak again just before: the machine's spare capacity drifts, and an open-loop rate
        # above what it can serve at that moment measures a queue growing, not a latency. First
        # a pause, for the sagas the last overload run left in flight to finish.
        time.sleep(2)
        peak = bench.orders(empty, books, seconds=3).rps
        say(f"{run.store}: POST /api/orders at {share:.0%} of the peak, {peak:.0f}/s (open loop)")
        urls = {name: spec.url for name, spec in empty.specs.items()}
        before = pauses.scrape(urls)
        point = bench.orders_at(empty, books, round(peak * share, 1))
        run.latency.append(dataclasses.replace(point, share=share))
        if share == 0.5:
            run.gc_at_half = pauses.during(before, pauses.scrape(urls))


def _commands(server: RedisServer | None) -> int:
    return commands_run(server.url) if server is not None else 0


def _per_request(before: dict[str, float], after: dict[str, float], result: Result) -> dict[str, float]:
    return {name: (after[name] - before[name]) * 1000 / max(result.requests, 1) for name in after}
