"""The delivery store on every backend (in memory, the JSON journal, Redis): one delivery per
order, Idempotency-Keys bound to deliveries, moves as compare-and-set, claims, indexed listing,
and what survives a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from delivery_service.domain import (
    AlreadyScheduled,
    DeliveryDraft,
    DeliveryExists,
    DeliveryNotFound,
    MoveClaim,
    MoveInProgress,
    MoveRefused,
)
from delivery_service.store import DocDeliveryStore
from shared.errors import Conflict
from shared.idempotency import KEYS, MAX_KEYS_PER_PRINCIPAL, Key, KeyReused, TooManyKeys
from shared.paging import Page
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx
from shared.store.redis_docs import RedisDocs
from tests.helpers import RedisServer

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def a_draft(order_id: str = "order_1", customer_id: str = "cust_001") -> DeliveryDraft:
    return DeliveryDraft(order_id, customer_id, "1 Main St", date(2026, 12, 3), NOON)


class RecordingDocs:
    """Any Docs backend, remembering how each page was asked for (which index, whether filtered)
    and the tables each transaction's last run wrote."""

    def __init__(self, inner: Docs) -> None:
        self.inner = inner
        self.pages: list[dict[str, Any]] = []
        self.written: list[set[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def atomic(self, work: Callable[[Tx], Awaitable[Any]]) -> Any:
        written: set[str] = set()

        async def spied(tx: Tx) -> Any:
            written.clear()  # Redis runs `work` again after a conflict: the last run counts
            return await work(_WriteSpy(tx, written))

        result = await self.inner.atomic(spied)
        self.written.append(written)
        return result

    async def page(self, table: str, **kwargs: Any) -> Page[Any]:
        self.pages.append(
            {"index": kwargs["index"], "value": kwargs["value"], "filtered": bool(kwargs["keep"])}
        )
        return await self.inner.page(table, **kwargs)


class _WriteSpy:
    def __init__(self, tx: Tx, written: set[str]) -> None:
        self.tx, self.written = tx, written

    async def get(self, table: str, key: str) -> Any:
        return await self.tx.get(table, key)

    def put(self, table: str, key: str, doc: Any) -> None:
        self.written.add(table)
        self.tx.put(table, key, doc)

    def delete(self, table: str, key: str) -> None:
        self.written.add(table)
        self.tx.delete(table, key)


Opener = Callable[..., DocDeliveryStore]


@pytest.fixture(params=["memory", "json", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the store on one backend; opening again after close reads what was written."""
    memory = Tables()
    prefix = f"test-{uuid.uuid4().hex}:"

    def opener(max_keys: int = MAX_KEYS_PER_PRINCIPAL) -> DocDeliveryStore:
        if request.param == "memory":
            docs: Docs = TablesDocs(memory)
        elif request.param == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            docs = RedisDocs.from_url(server.url, prefix)
        else:
            docs = TablesDocs(Tables.open(tmp_path / "delivery"))
        return DocDeliveryStore(RecordingDocs(docs), max_keys)  # type: ignore[arg-type]

    return opener


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[DocDeliveryStore]:
    the_store = open_store()
    yield the_store
    await the_store.close()


async def test_the_store_gives_an_order_one_delivery_under_concurrent_adds(store: DocDeliveryStore) -> None:
    results = await asyncio.gather(*(store.add_delivery(a_draft()) for _ in range(3)), return_exceptions=True)

    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 1
    assert len(refused) == 2
    assert all(isinstance(r, DeliveryExists) for r in refused)
    # Ids are unique and increasing, never reused, and may skip: each add takes its number before
    # its transaction, so which of the three the one delivery got depends on who committed first,
    # and the numbers the refused adds took stay unused.
    number = int(made[0].delivery_id.removeprefix("del_"))
    assert made[0].delivery_id == f"del_{number}" and 1 <= number <= 3
    stored = {n: await store.get_delivery(f"del_{n}") for n in range(1, 4)}
    assert stored == {n: made[0] if n == number else None for n in range(1, 4)}
    later = await store.add_delivery(a_draft("order_2"))
    assert int(later.delivery_id.removeprefix("del_")) > number


async def test_a_move_is_a_compare_and_set(store: DocDeliveryStore) -> None:
    await store.add_delivery(a_draft())

    results = await asyncio.gather(
        store.move("del_1", "Pending", "Shipped", NOON),
        store.move("del_1", "Pending", "Cancelled", NOON),
        return_exceptions=True,
    )

    assert results[0] == await store.get_delivery("del_1")
    assert isinstance(results[1], MoveRefused)
    assert results[1].message == "Cannot change delivery status from Shipped to Cancelled"
    stored = await store.get_delivery("del_1")
    assert stored is not None
    assert [c.status for c in stored.history] == ["Pending", "Shipped"]


async def test_a_move_or_claim_from_an_unexpected_status_changes_nothing(store: DocDeliveryStore) -> None:
    await store.add_delivery(a_draft())
    held = await store.claim_move("del_1", "Pending", MoveClaim("Shipped", "mine", NOON))
    refusals = [
        store.move("del_1", "Shipped", "In Transit", NOON),  # not where the delivery is
        store.claim_move("del_1", "In Transit", MoveClaim("Delivered", "other", NOON)),
        store.move("del_1", "Pending", "Cancelled", NOON),  # held by a claim for another status
        store.claim_move("del_1", "Pending", MoveClaim("Cancelled", "other", NOON)),
    ]

    for refusal in refusals:
        with pytest.raises((MoveRefused, MoveInProgress)) as caught:
            await refusal
        assert "Pending" in caught.value.message or "being moved to Shipped" in caught.value.message

    # The caller reads what is there: the delivery as the claim left it, nothing added.
    assert await store.get_delivery("del_1") == held
    assert [d.delivery_id for d in await store.claimed()] == ["del_1"]


async def test_moving_an_unknown_delivery_is_not_found(store: DocDeliveryStore) -> None:
    with pytest.raises(DeliveryNotFound):
        await store.move("del_1", "Pending", "Cancelled", NOON)
    with pytest.raises(DeliveryNotFound):
        await store.claim_move("del_1", "Pending", MoveClaim("Shipped", "t", NOON))


async def test_a_claim_holds_the_delivery_until_its_owner_releases_it(store: DocDeliveryStore) -> None:
    await store.add_delivery(a_draft())
    await store.claim_move("del_1", "Pending", MoveClaim("Shipped", "mine", NOON - timedelta(days=1)))

    with pytest.raises(MoveInProgress):
        await store.move("del_1", "Pending", "Cancelled", NOON)
    await store.release_claim("del_1", "not-mine")
    with pytest.raises(MoveInProgress):
        await store.move("del_1", "Pending", "Cancelled", NOON)
    await store.release_claim("del_1", "mine")
    cancelled = await store.move("del_1", "Pending", "Cancelled", NOON)

    assert (cancelled.status, cancelled.claim) == ("Cancelled", None)


async def test_finishing_a_claimed_move_ends_the_claim(store: DocDeliveryStore) -> None:
    await store.add_delivery(a_draft())
    await store.claim_move("del_1", "Pending", MoveClaim("Shipped", "t", NOON))

    shipped = await store.move("del_1", "Pending", "Shipped", NOON)

    assert shipped.claim is None
    assert await store.get_delivery("del_1") == shipped


async def test_a_customers_page_is_read_from_its_index(store: DocDeliveryStore) -> None:
    for n, customer in enumerate(["alice", "bob", "alice", "carol"], start=1):
        await store.add_delivery(a_draft(f"order_{n}", customer))
    assert isinstance(store.docs, RecordingDocs)

    alices = await store.list_deliveries(
        customer_id="alice", order_id=None, status=None, after=None, limit=10
    )
    by_order = await store.list_deliveries(
        customer_id="alice", order_id="order_3", status="Pending", after=None, limit=10
    )

    assert [d.delivery_id for d in alices.items] == ["del_1", "del_3"]
    assert [d.delivery_id for d in by_order.items] == ["del_3"]
    assert store.docs.pages == [
        {"index": "customer", "value": "alice", "filtered": False},
        {"index": "order", "value": "order_3", "filtered": True},
    ]


async def test_deliveries_moves_and_cursors_survive_a_restart(open_store: Opener) -> None:
    first = open_store()
    await first.add_delivery(a_draft("order_1"))
    await first.add_delivery(a_draft("order_2"))
    await first.move("del_1", "Pending", "Shipped", NOON)
    page = await first.list_deliveries(customer_id=None, order_id=None, status=None, after=None, limit=1)
    before = await first.get_delivery("del_1")
    await first.close()

    again = open_store()
    try:
        added = await again.add_delivery(a_draft("order_3"))
        rest = await again.list_deliveries(
            customer_id=None, order_id=None, status=None, after=page.next_after, limit=10
        )
        assert await again.get_delivery("del_1") == before
        assert added.delivery_id == "del_3"
        assert [d.delivery_id for d in rest.items] == ["del_2", "del_3"]
        with pytest.raises(DeliveryExists):
            await again.add_delivery(a_draft("order_2"))
    finally:
        await again.close()


# --- Idempotency-Keys bound to deliveries (issue 14) ---------------------------------------------


def a_key(raw: bytes, holder: bytes = b"cust_001", body: bytes = b"{}") -> Key:
    return Key.of(raw, holder, "POST", "/api/deliveries", body)


async def test_a_key_is_bound_in_the_transaction_that_stores_its_delivery(store: DocDeliveryStore) -> None:
    assert isinstance(store.docs, RecordingDocs)
    made = await store.add_delivery(a_draft(), a_key(b"k1"))

    assert store.docs.written[-1] >= {"deliveries", KEYS}  # one transaction wrote both
    assert await store.keyed_delivery(a_key(b"k1")) == made.delivery_id
    with pytest.raises(KeyReused):
        await store.keyed_delivery(a_key(b"k1", body=b'{"other": 1}'))
    for draft in (a_draft(), a_draft("order_2")):  # the key decides, whichever order
        with pytest.raises(AlreadyScheduled) as again:
            await store.add_delivery(draft, a_key(b"k1"))
        assert again.value.delivery_id == made.delivery_id
    with pytest.raises(DeliveryExists):  # refused: the new key binds nothing
        await store.add_delivery(a_draft(), a_key(b"k2"))
    assert await store.keyed_delivery(a_key(b"k2")) is None
    assert await store.get_delivery("del_2") is None


async def test_each_caller_holds_at_most_max_keys_and_old_keys_are_purged(open_store: Opener) -> None:
    store = open_store(2)
    try:
        await store.add_delivery(a_draft("order_1"), a_key(b"k1"))
        await store.add_delivery(a_draft("order_2"), a_key(b"k2"))
        with pytest.raises(TooManyKeys):
            await store.add_delivery(a_draft("order_3"), a_key(b"k3"))
        assert await store.add_delivery(a_draft("order_3", "bob"), a_key(b"k3", b"bob"))

        assert await store.purge_keys(time.time() + 1) == 3
        assert await store.keyed_delivery(a_key(b"k1")) is None
        assert (await store.add_delivery(a_draft("order_4"), a_key(b"k4"))).delivery_id == "del_5"
    finally:
        await store.close()


async def test_concurrent_adds_with_one_key_store_one_delivery(store: DocDeliveryStore) -> None:
    results = await asyncio.gather(
        *(store.add_delivery(a_draft(), a_key(b"burst")) for _ in range(5)), return_exceptions=True
    )

    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    others = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, AlreadyScheduled) and r.delivery_id == made[0].delivery_id for r in others)
    assert await store.keyed_delivery(a_key(b"burst")) == made[0].delivery_id
    listed = await store.list_deliveries(customer_id=None, order_id=None, status=None, after=None, limit=10)
    assert listed.items == [made[0]]


async def test_a_bound_key_survives_a_restart(open_store: Opener) -> None:
    first = open_store()
    made = await first.add_delivery(a_draft(), a_key(b"k"))
    await first.close()

    again = open_store()
    try:
        assert await again.keyed_delivery(a_key(b"k")) == made.delivery_id
        with pytest.raises(AlreadyScheduled):
            await again.add_delivery(a_draft(), a_key(b"k"))
    finally:
        await again.close()


async def test_a_key_the_old_middleware_recorded_is_refused_not_run_again(store: DocDeliveryStore) -> None:
    """Before the upgrade the middleware kept whole answers (no delivery id) in the same table."""
    old = a_key(b"old")
    legacy = {"fingerprint": old.fingerprint, "state": "done", "at": time.time(), "status": 201}

    async def work(tx: Tx) -> None:
        tx.put(KEYS, old.digest, legacy)

    await store.docs.atomic(work)

    with pytest.raises(Conflict):
        await store.keyed_delivery(old)
    assert await store.purge_keys(time.time() + 1) == 1
    assert await store.keyed_delivery(old) is None
