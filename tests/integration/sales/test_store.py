"""The sales store on every backend (memory, JSON journal, Redis): ids, pending orders, restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sales_service.domain import AlreadyPlaced, Order, OrderLine
from sales_service.store import DocSalesStore
from shared.errors import Conflict
from shared.idempotency import KEYS, Key, KeyReused, TooManyKeys
from shared.store import Tables
from shared.store.docs import Docs, Tx

ORDERED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def a_draft(customer_id: str = "cust_001") -> Order:
    lines = (OrderLine("123", 2, Decimal("15.99")), OrderLine("789", 1))  # the second not yet priced
    return Order("", customer_id, lines, "credit_card", ORDERED_AT)


@pytest.fixture
def store(docs: Docs) -> DocSalesStore:
    return DocSalesStore(docs)


async def pending_ids(store: DocSalesStore) -> list[str]:
    return sorted(order.order_id for order in await store.pending_orders())


async def test_an_added_order_gets_the_next_id_and_reads_back_exactly(store: DocSalesStore) -> None:
    first = await store.add_order(a_draft())
    second = await store.add_order(a_draft("cust_002"))

    assert (first.order_id, second.order_id) == ("order_1", "order_2")
    assert first == dataclasses.replace(a_draft(), order_id="order_1")
    assert await store.get_order("order_1") == first
    assert await store.get_order("order_2") == second
    assert await store.get_order("order_3") is None


async def test_a_deleted_orders_id_is_never_reused(store: DocSalesStore) -> None:
    await store.add_order(a_draft())
    await store.add_order(a_draft())
    await store.delete_order("order_2")
    await store.delete_order("order_1")

    again = await store.add_order(a_draft())

    assert again.order_id == "order_3"
    assert await store.get_order("order_1") is None
    assert await store.get_order("order_2") is None


async def test_pending_orders_are_exactly_those_still_pending(store: DocSalesStore) -> None:
    for _ in range(5):
        await store.add_order(a_draft())
    confirmed = await store.get_order("order_1")
    failed = await store.get_order("order_2")
    paid = await store.get_order("order_3")
    assert confirmed and failed and paid
    await store.save_order(confirmed.moved("Confirmed", "Paid"))
    await store.save_order(failed.moved("Failed", "Declined"))
    await store.save_order(paid.moved("Pending", "Paid"))
    await store.delete_order("order_4")

    assert await pending_ids(store) == ["order_3", "order_5"]
    assert [o for o in await store.pending_orders() if o.order_id == "order_3"] == [
        paid.moved("Pending", "Paid")
    ]


async def test_concurrent_adds_get_distinct_increasing_ids(store: DocSalesStore) -> None:
    orders = await asyncio.gather(*(store.add_order(a_draft(f"cust_{n}")) for n in range(50)))

    assert sorted(o.order_id for o in orders) == sorted(f"order_{n}" for n in range(1, 51))
    assert [await store.get_order(o.order_id) for o in orders] == orders
    assert (await store.add_order(a_draft())).order_id == "order_51"


async def test_the_json_store_keeps_orders_pending_ones_and_the_id_sequence_across_a_restart(
    tmp_path: Path,
) -> None:
    store = DocSalesStore(Tables.open(tmp_path))
    confirmed = (await store.add_order(a_draft())).moved("Confirmed", "Paid")
    await store.save_order(confirmed)
    pending = await store.add_order(a_draft("cust_002"))
    await store.add_order(a_draft("cust_003"))
    await store.delete_order("order_3")
    await store.close()

    store = DocSalesStore(Tables.open(tmp_path))
    try:
        assert await store.get_order("order_1") == confirmed
        assert await store.get_order("order_3") is None
        assert await store.pending_orders() == [pending]
        assert (await store.add_order(a_draft())).order_id == "order_4"
    finally:
        await store.close()


# --- compare-and-set moves and leases (issue 14) -------------------------------------------------


async def test_a_swap_from_a_status_the_order_has_left_changes_nothing(store: DocSalesStore) -> None:
    """Scenario 2 at the store: a copy read while Pending/Paid must not write over Shipped."""
    stale = (await store.add_order(a_draft())).moved("Pending", "Paid")
    await store.save_order(stale.moved("Shipped"))

    current, moved = await store.swap_order(stale, stale.moved("Confirmed"))

    assert not moved
    assert current == stale.moved("Shipped")
    assert await store.get_order("order_1") == stale.moved("Shipped")


async def test_of_concurrent_swaps_from_one_status_exactly_one_wins(store: DocSalesStore) -> None:
    pending = await store.add_order(a_draft())
    targets = [pending.moved("Failed", "Refunded"), pending.moved("Pending", "Paid")] * 10

    results = await asyncio.gather(*(store.swap_order(pending, target) for target in targets))

    winners = [current for current, moved in results if moved]
    assert len(winners) == 1
    assert await store.get_order("order_1") == winners[0]
    assert all(current in (winners[0], pending) for current, _ in results)


async def test_a_lease_belongs_to_one_owner_until_it_ends_or_runs_out(store: DocSalesStore) -> None:
    order = await store.add_order(a_draft(), ("saga", time.time() + 60))

    assert not await store.lease_order(order.order_id, "recovery", time.time() + 60)
    assert await store.lease_order(order.order_id, "saga", time.time() + 60)  # renewed
    await store.end_lease(order.order_id, "recovery")  # not its lease: nothing happens
    assert not await store.lease_order(order.order_id, "recovery", time.time() + 60)
    await store.end_lease(order.order_id, "saga")
    assert await store.lease_order(order.order_id, "recovery", time.time() - 1)  # already run out
    assert await store.lease_order(order.order_id, "other", time.time() + 60)
    results = await asyncio.gather(
        *(store.lease_order(order.order_id, f"r{n}", time.time() + 60) for n in range(10))
    )
    assert results == [False] * 10
    await store.end_lease(order.order_id, "other")
    results = await asyncio.gather(
        *(store.lease_order(order.order_id, f"r{n}", time.time() + 60) for n in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]


# --- Idempotency-Keys bound to orders (issue 14) -------------------------------------------------


def a_key(raw: bytes, holder: bytes = b"cust_001", body: bytes = b"{}") -> Key:
    return Key.of(raw, holder, "POST", "/api/orders", body)


async def test_a_key_is_bound_to_the_order_it_placed_and_freed_with_a_deleted_order(docs: Docs) -> None:
    store = DocSalesStore(docs, max_keys=2)
    placed = await store.add_order(a_draft(), key=a_key(b"k1"))

    assert await store.keyed_order(a_key(b"k1")) == placed.order_id
    with pytest.raises(AlreadyPlaced) as again:
        await store.add_order(a_draft(), key=a_key(b"k1"))
    assert again.value.order_id == placed.order_id
    with pytest.raises(KeyReused):
        await store.keyed_order(a_key(b"k1", body=b'{"other": 1}'))
    refused = await store.add_order(a_draft(), key=a_key(b"k2"))
    with pytest.raises(TooManyKeys):
        await store.add_order(a_draft(), key=a_key(b"k3"))
    assert await store.add_order(a_draft("cust_002"), key=a_key(b"k3", b"cust_002"))

    await store.delete_order(refused.order_id, a_key(b"k2"))

    assert await store.keyed_order(a_key(b"k2")) is None
    assert (await store.add_order(a_draft(), key=a_key(b"k3"))).order_id == "order_6"
    with pytest.raises(KeyReused):
        await store.add_order(a_draft(), key=a_key(b"k1", body=b'{"other": 1}'))
    assert await store.purge_keys(time.time() + 1) == 3
    assert await store.keyed_order(a_key(b"k1")) is None


async def test_a_key_recorded_before_the_upgrade_is_refused_not_run_again(docs: Docs) -> None:
    """The middleware's old records (a whole response, no order id) are in the same table."""
    store = DocSalesStore(docs)
    old = a_key(b"old")
    legacy = {"fingerprint": old.fingerprint, "state": "done", "at": time.time(), "status": 201}

    async def work(tx: Tx) -> None:
        tx.put(KEYS, old.digest, legacy)

    await docs.atomic(work)

    with pytest.raises(Conflict):
        await store.keyed_order(old)
    with pytest.raises(Conflict):
        await store.add_order(a_draft(), key=old)
    assert await pending_ids(store) == []
    assert await store.purge_keys(time.time() + 1) == 1


async def test_racing_orders_under_one_caller_bind_each_key_once_and_stop_at_the_cap(docs: Docs) -> None:
    """Placing is decided where the data is (a script on Redis): twenty requests with one key place
    one order; forty with new keys against a cap of 25 place exactly 25, none lost to a retry."""
    store = DocSalesStore(docs, max_keys=25)

    async def place(raw: bytes) -> str:
        try:
            return (await store.add_order(a_draft(), ("saga", time.time() + 60), a_key(raw))).order_id
        except AlreadyPlaced as exc:
            return f"again:{exc.order_id}"
        except TooManyKeys:
            return "refused"

    same = await asyncio.gather(*(place(b"same") for _ in range(20)))
    placed = [answer for answer in same if not answer.startswith("again:")]
    assert len(placed) == 1
    assert set(same) == {placed[0], f"again:{placed[0]}"}

    fresh = await asyncio.gather(*(place(f"k{n}".encode()) for n in range(40)))
    assert fresh.count("refused") == 16
    assert len(await pending_ids(store)) == 25
    page = await store.list_orders(customer_id="cust_001", status=None, after=None, limit=100)
    assert sorted(order.order_id for order in page.items) == await pending_ids(store)


async def test_skipping_numbers_moves_the_next_id_up_never_down(store: DocSalesStore) -> None:
    await store.add_order(a_draft())

    assert await store.skip_numbers(5)
    assert (await store.add_order(a_draft())).order_id == "order_6"
    assert not await store.skip_numbers(3)
    assert (await store.add_order(a_draft())).order_id == "order_7"
