"""The catalog in inventory's JSON store across restarts, and what an older version left in it.
(The catalog's behaviour on every backend is in tests/integration/test_inventory_store.py.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from inventory_service.domain import DEFAULT_CATALOG, BookQuery, IsbnTaken, NewBook
from inventory_service.settings import InventorySettings
from inventory_service.store import DocInventoryStore
from inventory_service.upgrade import upgrade
from shared.store import Tables
from shared.store.docs import make_docs

BRAVE = NewBook("brave", "Brave New World", "Aldous Huxley", Decimal("14.50"), 20, "9780060850524")
ISLAND = NewBook("island", "Island", "Aldous Huxley", Decimal("12.00"), 3, "9780060085490")


async def open_json_store(directory: Path) -> DocInventoryStore:
    """What the app's lifespan does on start: open the directory and seed (a no-op after the first)."""
    docs = make_docs(InventorySettings(store="json", data_dir=directory), "inventory", upgrade=upgrade)
    store = DocInventoryStore(docs)
    await store.open()
    await store.seed(DEFAULT_CATALOG)
    return store


async def ids(store: DocInventoryStore, query: BookQuery | None = None) -> list[str]:
    return [book.id for book in (await store.list_books(query, limit=1000)).items]


def without_id(new: NewBook, isbn: str | None = None) -> NewBook:
    return NewBook(None, new.title, new.author, new.price, new.stock, isbn or new.isbn)


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
