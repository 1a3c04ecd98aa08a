"""One behaviour suite for the document store behind every service's store, run against each
backend alike (in memory, the JSON journal, real Redis) so they cannot drift apart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.errors import Conflict, ServiceUnavailable
from shared.store.docs import Docs, Tx
from shared.store.redis_docs import RedisDocs
from tests.helpers import RedisServer


def _order(docs: Docs) -> Docs:
    docs.order("orders", lambda d: d["n"], indexes={"customer": lambda d: d["customer"]})
    return docs


@pytest.fixture
def ordered(docs: Docs) -> Docs:
    return _order(docs)


async def put(docs: Docs, table: str, key: str, doc: Any) -> None:
    async def work(tx: Tx) -> None:
        tx.put(table, key, doc)

    await docs.atomic(work)


async def test_a_transaction_writes_all_or_nothing(ordered: Docs) -> None:
    docs = ordered

    async def half_then_refuse(tx: Tx) -> None:
        tx.put("books", "1", {"stock": 1})
        raise Conflict("changed my mind")

    with pytest.raises(Conflict):
        await docs.atomic(half_then_refuse)
    assert await docs.get("books", "1") is None

    async def both(tx: Tx) -> str:
        tx.put("books", "1", {"stock": 1})
        tx.put("books", "2", {"stock": 2})
        return "done"

    assert await docs.atomic(both) == "done"
    assert [await docs.get("books", k) for k in ("1", "2")] == [{"stock": 1}, {"stock": 2}]


async def test_a_transaction_reads_its_own_writes(ordered: Docs) -> None:
    docs = ordered

    async def work(tx: Tx) -> Any:
        tx.put("books", "1", {"stock": 5})
        seen = await tx.get("books", "1")
        tx.delete("books", "1")
        return seen, await tx.get("books", "1")

    assert await docs.atomic(work) == ({"stock": 5}, None)
    assert await docs.get("books", "1") is None


async def test_concurrent_read_modify_write_loses_no_update(ordered: Docs) -> None:
    docs = ordered
    await put(docs, "books", "1", {"stock": 0})

    async def increment(tx: Tx) -> None:
        doc = await tx.get("books", "1")
        await asyncio.sleep(0)  # let the others read the same value
        tx.put("books", "1", {"stock": doc["stock"] + 1})

    await asyncio.gather(*(docs.atomic(increment) for _ in range(50)))

    assert await docs.get("books", "1") == {"stock": 50}


async def test_only_one_of_concurrent_claims_of_a_key_wins(ordered: Docs) -> None:
    docs = ordered

    async def claim(tx: Tx, who: str) -> bool:
        if await tx.get("claims", "k") is not None:
            return False
        await asyncio.sleep(0)
        tx.put("claims", "k", {"by": who})
        return True

    results = await asyncio.gather(*(docs.atomic(lambda tx, w=str(i): claim(tx, w)) for i in range(20)))

    assert sum(results) == 1
    winner = results.index(True)
    assert await docs.get("claims", "k") == {"by": str(winner)}


async def test_numbers_increase_and_never_repeat(ordered: Docs) -> None:
    docs = ordered
    numbers = await asyncio.gather(*(docs.next_number("order") for _ in range(100)))

    assert sorted(numbers) == list(range(1, 101))
    assert await docs.next_number("delivery") == 1


async def test_keys_lists_a_tables_live_keys(ordered: Docs) -> None:
    docs = ordered
    for key in ("b", "a", "c"):
        await put(docs, "holds", key, True)

    async def drop(tx: Tx) -> None:
        tx.delete("holds", "b")

    await docs.atomic(drop)
    assert sorted(await docs.keys("holds")) == ["a", "c"]


async def test_pages_follow_the_sort_key_with_a_cursor_that_survives_additions(ordered: Docs) -> None:
    docs = ordered
    for n in (3, 1, 2):
        await put(docs, "orders", f"o{n}", {"n": n, "customer": "a" if n != 2 else "b"})

    first = await docs.page("orders", after=None, limit=2)
    assert [d["n"] for d in first.items] == [1, 2]
    assert (first.total, first.next_after) == (3, 2)
    await put(docs, "orders", "o4", {"n": 4, "customer": "a"})
    rest = await docs.page("orders", after=first.next_after, limit=10)
    assert [d["n"] for d in rest.items] == [3, 4]
    assert rest.next_after is None


async def test_pages_by_index_and_filter_follow_changes(ordered: Docs) -> None:
    docs = ordered
    for n in range(1, 6):
        await put(docs, "orders", f"o{n}", {"n": n, "customer": "a" if n % 2 else "b", "open": n < 4})
    await put(docs, "orders", "o1", {"n": 1, "customer": "b", "open": True})  # moves index

    a = await docs.page("orders", after=None, limit=10, index="customer", value="a")
    b_open = await docs.page(
        "orders", after=None, limit=1, index="customer", value="b", keep=lambda d: d["open"]
    )

    assert [d["n"] for d in a.items] == [3, 5]
    assert [d["n"] for d in b_open.items] == [1]
    assert (b_open.total, b_open.next_after) == (2, 1)

    async def drop(tx: Tx) -> None:
        tx.delete("orders", "o3")

    await docs.atomic(drop)
    assert [
        d["n"] for d in (await docs.page("orders", after=None, limit=10, index="customer", value="a")).items
    ] == [5]
    assert (await docs.page("orders", after=None, limit=10)).total == 4


async def test_a_stable_table_written_blind_keeps_its_order_and_index(docs: Docs) -> None:
    docs.order("orders", lambda d: d["n"], indexes={"customer": lambda d: d["customer"]}, stable=True)
    for n in (2, 1, 3):
        await put(docs, "orders", f"o{n}", {"n": n, "customer": "a" if n != 3 else "b", "v": 1})
    await put(docs, "orders", "o1", {"n": 1, "customer": "a", "v": 2})  # replaced, not read first
    await put(docs, "open", "o1", True)  # an unordered table: never read first either
    await put(docs, "open", "o1", True)

    async def drop(tx: Tx) -> None:
        tx.delete("orders", "o2")  # a deletion still reads, to leave the index it was in

    await docs.atomic(drop)

    everything = await docs.page("orders", after=None, limit=10)
    assert [(d["n"], d["v"]) for d in everything.items] == [(1, 2), (3, 1)] and everything.total == 2
    a = await docs.page("orders", after=None, limit=10, index="customer", value="a")
    assert [d["n"] for d in a.items] == [1] and a.total == 1
    assert await docs.keys("orders") == ["o1", "o3"] and await docs.keys("open") == ["o1"]


async def test_a_blind_write_on_redis_is_one_round_trip(redis_server: RedisServer) -> None:
    docs = RedisDocs.from_url(redis_server.url, f"test-{uuid.uuid4().hex}:")
    docs.order("orders", lambda d: d["n"], indexes={"customer": lambda d: d["customer"]}, stable=True)
    await put(docs, "orders", "o1", {"n": 1, "customer": "a"})  # the script loaded
    before = await docs.redis.info("commandstats")

    async def save(tx: Tx) -> None:
        tx.put("orders", "o1", {"n": 1, "customer": "a", "paid": True})
        tx.put("pending", "o1", True)

    await docs.atomic(save)

    after = await docs.redis.info("commandstats")
    calls = {
        c: after.get(f"cmdstat_{c}", {}).get("calls", 0) - before.get(f"cmdstat_{c}", {}).get("calls", 0)
        for c in ("evalsha", "mget")
    }
    assert calls == {"evalsha": 1, "mget": 0}  # the session's redis-server runs one test at a time
    await docs.close()


async def test_a_stopped_redis_is_503_and_the_store_recovers_when_it_returns(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    docs = RedisDocs.from_url(server.url, "t:", timeout=0.5)
    try:
        await put(docs, "books", "1", {"stock": 1})
        server.stop()
        for call in (docs.get("books", "1"), docs.next_number("x"), docs.ping(), put(docs, "books", "2", {})):
            with pytest.raises(ServiceUnavailable):
                await call
        server.start()
        await put(docs, "books", "3", {"stock": 3})
        assert await docs.get("books", "3") == {"stock": 3}
    finally:
        await docs.close()
        server.stop()


# --- Redis: the optimistic transaction between two clients ------------------------------------


@pytest.fixture
async def two_clients(redis_server: RedisServer) -> AsyncIterator[tuple[RedisDocs, RedisDocs]]:
    """Two instances of a service sharing one prefix, each with its own connections."""
    prefix = f"test-{uuid.uuid4().hex}:"
    first, second = (RedisDocs.from_url(redis_server.url, prefix) for _ in range(2))
    for docs in (first, second):
        _order(docs)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("start", [{"n": 0}, None], ids=["present", "absent"])
async def test_a_commit_on_a_stale_read_runs_again_on_the_winners_value(
    two_clients: tuple[RedisDocs, RedisDocs], start: Any
) -> None:
    first, second = two_clients
    if start is not None:
        await put(first, "counters", "c", start)
    seen: list[Any] = []

    async def increment(tx: Tx) -> None:
        doc = await tx.get("counters", "c")
        tx.put("counters", "c", {"n": (doc or {"n": 0})["n"] + 1})

    async def slow_increment(tx: Tx) -> None:
        doc = await tx.get("counters", "c")
        seen.append(doc)
        if len(seen) == 1:
            await second.atomic(increment)  # another instance commits between our read and commit
        tx.put("counters", "c", {"n": (doc or {"n": 0})["n"] + 1})

    await first.atomic(slow_increment)

    assert seen == [start, {"n": 1}]  # the first attempt's commit was refused, not applied
    assert await first.get("counters", "c") == {"n": 2}  # no lost update


async def test_increments_from_two_instances_lose_none(two_clients: tuple[RedisDocs, RedisDocs]) -> None:
    first, second = two_clients
    await put(first, "counters", "c", {"n": 0})

    async def increment(tx: Tx) -> None:
        doc = await tx.get("counters", "c")
        await asyncio.sleep(0)
        tx.put("counters", "c", {"n": doc["n"] + 1})

    await asyncio.gather(*(docs.atomic(increment) for docs in (first, second) * 40))

    assert await first.get("counters", "c") == {"n": 80}


async def test_a_refusal_on_a_stale_view_runs_again_on_fresh_data(
    two_clients: tuple[RedisDocs, RedisDocs],
) -> None:
    first, second = two_clients
    await put(first, "stock", "a", {"n": 5})
    await put(first, "stock", "b", {"n": 5})
    attempts = 0

    async def move_one(tx: Tx) -> None:  # a to b: the total stays 10
        a, b = await tx.get("stock", "a"), await tx.get("stock", "b")
        tx.put("stock", "a", {"n": a["n"] - 1})
        tx.put("stock", "b", {"n": b["n"] + 1})

    async def total(tx: Tx) -> int:
        nonlocal attempts
        attempts += 1
        a = await tx.get("stock", "a")
        if attempts == 1:
            await second.atomic(move_one)  # lands between our two reads
        b = await tx.get("stock", "b")
        if a["n"] + b["n"] != 10:
            raise Conflict("the stock does not add up")  # only from a torn view
        return int(a["n"] + b["n"])

    assert await first.atomic(total) == 10
    assert attempts == 2
