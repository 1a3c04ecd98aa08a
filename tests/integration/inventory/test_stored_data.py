"""What inventory's store keeps and reads back: stock, holds and cursors across a restart of the
JSON store, and what earlier versions stored (holds under their old table names on every
backend, books without positions, the old id counter)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inventory_service import services
from inventory_service.domain import (
    DEFAULT_CATALOG,
    BookHeld,
    IsbnTaken,
    NewBook,
)
from inventory_service.store import DocInventoryStore
from shared.store import Tables
from shared.store.docs import Docs, Tx
from tests.integration.inventory.books import (
    BRAVE,
    FULL_STOCK,
    ISLAND,
    LATER,
    NOW,
    ids,
    open_json_store,
    statuses,
    stock,
    without_id,
)

# --- across a restart of the JSON store ------------------------------------------------


async def test_the_json_store_keeps_stock_and_holds_across_a_restart(tmp_path: Path) -> None:
    store = await open_json_store(tmp_path)
    await store.hold("sold", {"123": 5}, LATER)
    await store.commit("sold")
    held, _ = await store.hold("held", {"456": 2, "789": 1}, LATER)
    await store.hold("gone", {"789": 4}, LATER)
    await store.release("gone")
    await store.close()

    store = await open_json_store(tmp_path)  # seeds again, as every start does
    try:
        assert await stock(store) == {"123": 45, "456": 28, "789": 24}
        assert await store.get_hold("held") == held
        assert await statuses(store, "sold", "gone") == {"sold": "committed", "gone": "released"}
        assert await services.expire_holds(store, LATER) == [
            "held"
        ]  # the open hold is still tracked for expiry
        assert await stock(store) == {"123": 45, "456": 30, "789": 25}
    finally:
        await store.close()


async def test_a_cursor_survives_a_restart_of_the_json_store(tmp_path: Path) -> None:
    store = await open_json_store(tmp_path)
    await store.add_book(BRAVE)
    await store.delete_book("456")
    first = await store.list_books(limit=2)
    await store.close()

    store = await open_json_store(tmp_path)
    try:
        rest = await store.list_books(after=first.next_after, limit=2)
        assert [b.id for b in first.items] == ["123", "789"]
        assert [b.id for b in rest.items] == ["brave"]
        assert (await store.add_book(without_id(ISLAND))).id == "1000"
        assert await ids(store) == ["123", "789", "brave", "1000"]
    finally:
        await store.close()


# --- what earlier versions stored -------------------------------------------------------


def a_hold_doc(order_id: str, book_id: str, quantity: int, status: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "lines": [[book_id, quantity, "1.00"]],
        "status": status,
        "expires_at": NOW.isoformat(),
    }


async def test_a_journal_written_before_the_code_said_hold_still_loads(tmp_path: Path) -> None:
    # The table and key names as the JSON store has always written them, literally: renaming the
    # code's words must never move where stored data is read from.
    old = Tables.open(tmp_path)
    old.write(
        [("books", b.id, {**b.to_doc(), "pos": n}) for n, b in enumerate(DEFAULT_CATALOG, start=1)]
        + [("isbns", b.isbn, b.id) for b in DEFAULT_CATALOG]
        + [("meta", "seeded", True), ("seq", "book_position", 3)]
    )
    old.write([("books", "123", {**DEFAULT_CATALOG[0].to_doc(), "pos": 1, "stock": 45})])
    old.write([("reservations", "sold", a_hold_doc("sold", "123", 5, "committed"))])
    old.write([("books", "456", {**DEFAULT_CATALOG[1].to_doc(), "pos": 2, "stock": 28})])
    old.write([("reservations", "held", a_hold_doc("held", "456", 2, "held")), ("holds", "held", True)])
    old.close()

    store = await open_json_store(tmp_path)
    try:
        assert await statuses(store, "sold", "held") == {"sold": "committed", "held": "held"}
        assert await stock(store) == {"123": 45, "456": 28, "789": 25}
        assert await services.expire_holds(store, LATER) == ["held"]
        assert await stock(store) == {"123": 45, "456": 30, "789": 25}
    finally:
        await store.close()


async def test_a_hold_stored_under_the_table_names_it_always_had_still_loads(
    store: DocInventoryStore, docs: Docs
) -> None:
    # Written as every earlier version wrote a hold, the names spelled out: renaming the code's
    # words ("reservation" became "hold") must never move where stored data is read from.
    async def write(tx: Tx) -> None:
        book = await tx.get("books", "123")
        tx.put("books", "123", {**book, "stock": 48})
        lines = [["123", 2, "15.99"]]
        tx.put(
            "reservations",
            "order_1",
            {"order_id": "order_1", "lines": lines, "status": "held", "expires_at": NOW.isoformat()},
        )
        tx.put("holds", "order_1", True)

    await docs.atomic(write)

    assert await statuses(store, "order_1") == {"order_1": "held"}
    with pytest.raises(BookHeld):
        await store.delete_book("123")
    assert await services.expire_holds(store, NOW) == ["order_1"]
    assert await stock(store) == FULL_STOCK


async def test_books_stored_without_a_position_get_one_once_in_their_stored_order(tmp_path: Path) -> None:
    old = Tables.open(tmp_path)  # what an older version wrote: no positions, no ISBN index
    old.write([("books", b.id, b.to_doc()) for b in reversed(DEFAULT_CATALOG)] + [("meta", "seeded", True)])
    old.close()

    store = await open_json_store(tmp_path)
    try:
        assert await ids(store) == ["789", "456", "123"]
        added = await store.add_book(BRAVE)
        assert await ids(store) == ["789", "456", "123", added.id]
        with pytest.raises(IsbnTaken):
            await store.add_book(NewBook("x", "Gatsby", "Fitzgerald", Decimal(1), 1, "9780743273565"))
        first = await store.list_books(limit=2)
    finally:
        await store.close()

    store = await open_json_store(tmp_path)
    try:
        rest = await store.list_books(after=first.next_after, limit=2)
        assert [b.id for b in rest.items] == ["123", "brave"]
    finally:
        await store.close()


async def test_an_older_stores_generated_ids_carry_on_without_reusing_one(tmp_path: Path) -> None:
    old = Tables.open(tmp_path)  # an older version kept the last generated id itself as its counter
    old.write([("seq", "book_id", 1002)])
    old.close()

    store = await open_json_store(tmp_path)
    try:
        assert (await store.add_book(without_id(BRAVE))).id == "1003"
    finally:
        await store.close()

    store = await open_json_store(tmp_path)
    try:
        assert (await store.add_book(without_id(ISLAND))).id == "1004"
    finally:
        await store.close()
