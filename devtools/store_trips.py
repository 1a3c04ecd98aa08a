"""Count what each of inventory's store operations (and sales' for an order) asks of Redis: the
client's commands (each one round trip: the stores send no pipelines on these paths) and the
commands its scripts run inside Redis, seen through `MONITOR` on a private redis-server.

    .venv/bin/python -m devtools.store_trips
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from redis.asyncio import Redis

from devtools.redis_server import RedisServer
from inventory_service.domain import DEFAULT_CATALOG, NewBook
from inventory_service.store import DocInventoryStore
from sales_service.domain import Order, OrderLine
from sales_service.store import DocSalesStore
from shared.store.redis_docs import RedisDocs

LATER = datetime.now(UTC) + timedelta(hours=1)
DRAFT = Order("", "cust_001", (OrderLine("123", 1),), "credit_card", datetime.now(UTC))
NEW = NewBook(None, "The Hobbit", "J. R. R. Tolkien", Decimal("10.99"), 3, "9780547928227")


class Monitor:
    """Every command the server runs while `measure` awaits, by who sent it (client or script)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def measure(self, operation: Awaitable[object]) -> tuple[Counter[str], Counter[str]]:
        client: Counter[str] = Counter()
        scripted: Counter[str] = Counter()
        redis = Redis.from_url(self.url)
        marker = f"end-{uuid.uuid4().hex}"
        async with redis.monitor() as monitor:
            await redis.ping()  # the monitor is attached once a command goes through after it

            async def listen() -> None:
                async for line in monitor.listen():
                    command = str(line["command"])
                    if marker in command:
                        return
                    (scripted if line.get("client_type") == "lua" else client)[
                        command.split()[0].upper()
                    ] += 1

            listening = asyncio.create_task(listen())
            await asyncio.sleep(0.05)
            try:
                await operation
            finally:
                await redis.echo(marker)
                await listening
        await redis.aclose()
        for own in ("PING", "HELLO", "CLIENT"):  # this monitor's own connections' handshakes
            client.pop(own, None)
        return client, scripted


async def profile(url: str) -> list[tuple[str, Counter[str], Counter[str]]]:
    store = DocInventoryStore(RedisDocs.from_url(url, f"trips-{uuid.uuid4().hex}:"))
    await store.open()
    await store.seed(DEFAULT_CATALOG)
    await store.get_book("123")  # the connection pool's first connection opened here
    await _warm(store)
    monitor = Monitor(url)
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("get_book", lambda: store.get_book("123")),
        ("adjust_stock", lambda: store.adjust_stock("123", 5)),
        ("hold (2 lines)", lambda: store.hold("o1", {"123": 1, "456": 2}, LATER)),
        ("hold again (retry)", lambda: store.hold("o1", {"123": 1, "456": 2}, LATER)),
        ("commit", lambda: store.commit("o1")),
        ("return_units", lambda: store.return_units("o1")),
        ("add_book (generated id)", lambda: store.add_book(NEW)),
        ("hold (1 line)", lambda: store.hold("o2", {"123": 1}, LATER)),
        ("release", lambda: store.release("o2")),
    ]
    steps.append(("race: 40 holds of 1 for 25 copies (all)", lambda: _race(store, 40)))
    sales = DocSalesStore(RedisDocs.from_url(url, f"trips-{uuid.uuid4().hex}:"))
    await sales.open()
    placed: list[Order] = [await sales.add_order(DRAFT)]  # the pool's connection and the script
    steps += [
        ("sales: add_order", lambda: _add(sales, placed)),
        ("sales: save_order (Paid)", lambda: sales.save_order(placed[-1].moved("Pending", "Paid"))),
        ("sales: save_order (Confirmed)", lambda: sales.save_order(placed[-1].moved("Confirmed"))),
    ]
    rows = []
    for name, step in steps:
        client, scripted = await monitor.measure(step())
        rows.append((name, client, scripted))
    await store.close()
    await sales.close()
    return rows


async def _add(sales: DocSalesStore, placed: list[Order]) -> None:
    placed.append(await sales.add_order(DRAFT))


async def _warm(store: DocInventoryStore) -> None:
    """Each script once, as a running process has: its first call ever loads it (+2 round trips)."""
    await store.adjust_stock("123", 0)
    for settle in (store.commit, store.release):
        await store.hold(f"warm_{settle.__name__}", {"456": 1}, LATER)
        await settle(f"warm_{settle.__name__}")


async def _race(store: DocInventoryStore, buyers: int) -> None:
    """A flash sale in miniature: `buyers` holds at once of one book with 25 copies."""
    await asyncio.gather(
        *(store.hold(f"race_{n}", {"789": 1}, LATER) for n in range(buyers)), return_exceptions=True
    )


def report(rows: list[tuple[str, Counter[str], Counter[str]]]) -> str:
    lines = ["| operation | round trips | client commands | commands in scripts |", "|---|---|---|---|"]
    for name, client, scripted in rows:
        said = ", ".join(f"{c} {n}" for c, n in sorted(client.items()))
        lines.append(f"| {name} | {sum(client.values())} | {said} | {sum(scripted.values())} |")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            print(report(asyncio.run(profile(server.url))))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
