"""One store's measurements: the runs, in the order and rounds that make their ratios fair."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench import load
from bench.load import Request, Result, combine
from bench.preload import preload_orders
from bench.report import StoreRun
from bench.system import AUTH, BenchSystem, Nginx, RedisServer

BOOK = "/api/books/123"
GET_CONNECTIONS = 50
ORDER_CONNECTIONS = 32
SHARES = (0.25, 0.5, 0.75, 1.0)
BOOKS = 50  # orders spread over this many books (the catalog seeds 3)
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
    place) and `full` (preloaded). Runs alternate in rounds, so a drift of the machine's load hits
    both sides of every ratio alike."""
    run = StoreRun(store)
    redis = None
    if store == "redis":
        (root / "redis").mkdir()
        redis = RedisServer(root / "redis")
        redis.start()
    (root / "empty").mkdir()
    (root / "full").mkdir()
    empty = BenchSystem(root / "empty", store, redis.url if redis else None)
    full_url = redis.url.removesuffix("/0") + "/1" if redis else None  # its own database
    full = BenchSystem(root / "full", store, full_url)
    nginx = Nginx(root, empty.port) if Nginx.available() else None
    try:
        say(f"{store}: preloading {preload:,} orders")
        started = time.perf_counter()
        asyncio.run(preload_orders(store, root / "full" / "data" / "sales", full_url, preload))
        run.preloaded, run.preload_seconds = preload, time.perf_counter() - started
        empty.start()
        full.start()
        if nginx:
            nginx.start()
        books = empty.stock_up(BOOKS, 1_000_000)
        full.stock_up(BOOKS, 1_000_000)
        bench.get(empty.url + BOOK, AUTH, seconds=2)  # warm-up: connections and first-call costs
        for system in (empty, full):
            bench.orders(system, books, seconds=2)
        direct, gateway, proxied, orders, orders_full = [], [], [], [], []
        for i in range(ROUNDS):
            say(f"{store}: round {i + 1}/{ROUNDS}: GET direct, through the gateway, through nginx")
            before = empty.cpu_seconds()
            direct.append(bench.get(empty.inventory_url + BOOK, lambda: empty.signed("GET", BOOK)))
            run.cpu_per_get = _per_request(before, empty.cpu_seconds(), direct[-1])
            gateway.append(bench.get(empty.url + BOOK, AUTH))
            if nginx:
                proxied.append(bench.get(nginx.url + BOOK, AUTH))
            say(f"{store}: round {i + 1}/{ROUNDS}: POST /api/orders at peak, empty and {preload:,} stored")
            before, commands = empty.cpu_seconds(), _redis_commands(redis)
            orders.append(bench.orders(empty, books))
            run.cpu_per_order = _per_request(before, empty.cpu_seconds(), orders[-1])
            if redis:
                run.redis_per_order = (_redis_commands(redis) - commands) / max(orders[-1].requests, 1)
            orders_full.append(bench.orders(full, books))
        run.direct, run.gateway, run.nginx = direct, combine(gateway), combine(proxied)
        run.orders, run.orders_full = combine(orders), combine(orders_full)
        full.close()
        for share in SHARES:
            # The peak again just before: the machine's spare capacity drifts, and an open-loop rate
            # above what it can serve at that moment measures a queue growing, not a latency.
            peak = bench.orders(empty, books, seconds=3).rps
            say(f"{store}: POST /api/orders at {share:.0%} of the peak, {peak:.0f}/s (open loop)")
            point = bench.orders_at(empty, books, round(peak * share, 1))
            run.latency.append(dataclasses.replace(point, share=share))
    finally:
        if nginx:
            nginx.stop()
        full.close()
        empty.close()
        if redis:
            redis.stop()
    return run


def _redis_commands(server: RedisServer | None) -> int:
    """Commands the Redis server has run so far (INFO commandstats)."""
    if server is None:
        return 0
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        stats = client.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())
    finally:
        client.close()


def _per_request(before: dict[str, float], after: dict[str, float], result: Result) -> dict[str, float]:
    return {name: (after[name] - before[name]) * 1000 / max(result.requests, 1) for name in after}
