"""The flash sale and the races of a hold, on every backend (memory and JSON run the rules' Python
twins, Redis their scripts) and through two instances sharing one Redis: each unit sold once,
each hold settled one way, and on Redis no buyer retrying against another."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import pytest

from inventory_service import services
from inventory_service.domain import (
    DEFAULT_CATALOG,
    STOCK_LIMIT,
    Book,
    BookQuery,
    HoldConflict,
    InsufficientStock,
    NewBook,
    NotEnoughStock,
    TooMuchStock,
)
from inventory_service.store import DocInventoryStore
from shared.store.redis_docs import RedisDocs
from tests.integration.inventory.books import LATER, NOW, statuses, stock_of

BUYERS = 200  # for the 25 copies of book 789


async def _buy(stores: list[DocInventoryStore], buyers: int) -> list[Any]:
    return await asyncio.gather(
        *(stores[n % len(stores)].hold(f"order_{n}", {"789": 1}, LATER) for n in range(buyers)),
        return_exceptions=True,
    )


async def _race_holds_and_removals(stores: list[DocInventoryStore]) -> tuple[int, int]:
    """30 buyers of one copy racing 10 removals of one copy, for 25: how many of each went through."""

    async def remove(n: int) -> bool:
        try:
            await stores[n % len(stores)].adjust_stock("789", -1)
        except NotEnoughStock:
            return False
        return True

    held, removed = await asyncio.gather(_buy(stores, 30), asyncio.gather(*(remove(n) for n in range(10))))
    assert all(isinstance(r, tuple | InsufficientStock) for r in held), held
    return sum(isinstance(r, tuple) for r in held), sum(removed)


async def _race_expiry_and_commits(sweeper: DocInventoryStore, committer: DocInventoryStore) -> None:
    """20 overdue holds, swept while their orders commit: each committed or released, never both."""
    orders = [f"order_{n}" for n in range(20)]
    for order_id in orders:
        await committer.hold(order_id, {"789": 1}, NOW - timedelta(seconds=1))

    async def commit(order_id: str) -> bool:
        try:
            await committer.commit(order_id)
        except HoldConflict:
            return False
        return True

    swept, committed = await asyncio.gather(
        services.expire_holds(sweeper, NOW), asyncio.gather(*(commit(o) for o in orders))
    )

    sold = {o for o, ok in zip(orders, committed, strict=True) if ok}
    assert sold.isdisjoint(swept) and sold | set(swept) == set(orders)
    assert await statuses(sweeper, *orders) == {o: "committed" if o in sold else "released" for o in orders}
    assert await stock_of(sweeper, "789") == 25 - len(sold)


# --- one instance, every backend ------------------------------------------------------------------


async def test_200_buyers_for_25_copies_exactly_25_get_one(store: DocInventoryStore) -> None:
    results = await _buy([store], BUYERS)

    assert sum(isinstance(r, tuple) for r in results) == 25, results
    assert sum(isinstance(r, InsufficientStock) for r in results) == BUYERS - 25
    assert await stock_of(store, "789") == 0
    held = await statuses(store, *(f"order_{n}" for n in range(BUYERS)))
    assert sorted(s for s in held.values() if s is not None) == ["held"] * 25


async def test_holds_racing_stock_removals_take_each_copy_once(store: DocInventoryStore) -> None:
    held, removed = await _race_holds_and_removals([store])

    assert held + removed == 25
    assert await stock_of(store, "789") == 0


async def test_expiry_racing_commits_settles_each_hold_one_way(store: DocInventoryStore) -> None:
    await _race_expiry_and_commits(store, store)


# --- two instances on one Redis ---------------------------------------------------------------


async def test_two_instances_200_buyers_for_25_copies_exactly_25_get_one(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)

    results = await _buy(list(instances), BUYERS)

    assert sum(isinstance(r, tuple) for r in results) == 25, results
    assert await stock_of(first, "789") == await stock_of(second, "789") == 0


async def test_two_instances_holds_racing_stock_removals_take_each_copy_once(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    await instances[0].seed(DEFAULT_CATALOG)

    held, removed = await _race_holds_and_removals(list(instances))

    assert held + removed == 25
    assert await stock_of(instances[1], "789") == 0


async def test_two_instances_expiry_racing_commits_settles_each_hold_one_way(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    await instances[0].seed(DEFAULT_CATALOG)

    await _race_expiry_and_commits(*instances)


async def test_a_flash_sale_on_redis_is_one_script_call_per_buyer_and_no_retry(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, _ = instances
    await first.seed(DEFAULT_CATALOG)
    await _buy(list(instances), 2)  # each instance's scripts loaded, as in a running process
    redis = cast(RedisDocs, first.docs).redis
    before = await redis.info("commandstats")

    await _buy(list(instances), BUYERS)

    after = await redis.info("commandstats")
    calls = {
        c: after.get(f"cmdstat_{c}", {}).get("calls", 0) - before.get(f"cmdstat_{c}", {}).get("calls", 0)
        for c in ("evalsha", "get", "mget")
    }
    # One script call per buyer and nothing else sent (the session's redis-server runs one test at a
    # time); the GETs are the scripts' own, the hold and its book: at most two each.
    assert calls["evalsha"] == BUYERS and calls["mget"] == 0, calls
    assert calls["get"] <= 2 * BUYERS, calls


async def test_a_script_flushed_from_redis_is_loaded_again(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)
    await first.hold("order_1", {"123": 2}, LATER)

    await cast(RedisDocs, first.docs).redis.script_flush()  # as a Redis restarted without them
    hold, made = await first.hold("order_2", {"123": 1}, LATER)
    committed, _ = await second.commit("order_1")

    assert made and hold.status == "held" and committed.status == "committed"
    assert await stock_of(second, "123") == 47


async def test_the_moves_of_a_hold_keep_every_other_field_of_its_books(store: DocInventoryStore) -> None:
    # On Redis the scripts decode and encode each book: text beyond ASCII, quotes, slashes and
    # escapes must come back exactly as stored, and the catalog keep its order and index.
    odd = NewBook(
        "odd", 'Æ "quoted" / back\\slash \u00bd \U0001f680\n', "Ðe Ñame", Decimal("1.10"), 9, "9780306406157"
    )
    added = await store.add_book(odd)
    await store.hold("order_1", {"odd": 2, "123": 1}, LATER)
    await store.release("order_1")
    await store.adjust_stock("odd", 1)

    assert await store.get_book("odd") == Book(**{**asdict(added), "stock": 10})
    assert [book.id for book in (await store.list_books(BookQuery(author="ðe ñame"))).items] == ["odd"]
    assert [book.id for book in (await store.list_books()).items][-1] == "odd"


async def test_stock_stays_below_the_limit_the_scripts_keep_exact(store: DocInventoryStore) -> None:
    await store.adjust_stock("123", STOCK_LIMIT - 50)

    with pytest.raises(TooMuchStock) as refused:
        await store.adjust_stock("123", 1)

    assert refused.value.status == 409
    assert refused.value.details == [{"book_id": "123", "stock": STOCK_LIMIT, "delta": 1}]
    assert await stock_of(store, "123") == STOCK_LIMIT
    await store.hold("order_1", {"123": 7}, LATER)
    await store.release("order_1")
    assert await stock_of(store, "123") == STOCK_LIMIT


async def test_expiry_compares_times_to_the_microsecond_and_in_any_offset(store: DocInventoryStore) -> None:
    tick = timedelta(microseconds=1)
    berlin = timezone(timedelta(hours=1))
    await store.hold("just_due", {"123": 1}, NOW - tick)
    await store.hold("not_yet", {"123": 1}, NOW + tick)
    await store.hold("due_in_berlin", {"456": 1}, (NOW - tick).astimezone(berlin))  # the twin decides
    await store.hold("later_in_berlin", {"456": 1}, (NOW + timedelta(hours=2)).astimezone(berlin))

    expired = await services.expire_holds(store, NOW)

    assert sorted(expired) == ["due_in_berlin", "just_due"]
    assert await stock_of(store, "123") == 49 and await stock_of(store, "456") == 29
    assert await statuses(store, "not_yet", "later_in_berlin") == {
        "not_yet": "held",
        "later_in_berlin": "held",
    }
    assert await services.expire_holds(store, NOW + 2 * tick) == ["not_yet"]
