"""Books as inventory's store takes them, and what its tests read back from it (stock, hold
statuses, ids in catalog order); the store opened on a directory as the app's lifespan does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from inventory_service.domain import (
    DEFAULT_CATALOG,
    Book,
    BookQuery,
    NewBook,
)
from inventory_service.settings import InventorySettings
from inventory_service.store import DocInventoryStore
from inventory_service.upgrade import upgrade
from shared.store.docs import make_docs

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
FULL_STOCK = {"123": 50, "456": 30, "789": 25}
CONTRACT_BOOKS = [
    Book("123", "The Great Gatsby", "F. Scott Fitzgerald", Decimal("15.99"), 50, "9780743273565"),
    Book("456", "1984", "George Orwell", Decimal("12.99"), 30, "9780451524935"),
    Book("789", "To Kill a Mockingbird", "Harper Lee", Decimal("14.99"), 25, "9780061120084"),
]
BRAVE = NewBook("brave", "Brave New World", "Aldous Huxley", Decimal("14.50"), 20, "9780060850524")
HOBBIT = NewBook("hobbit", "The Hobbit", "J. R. R. Tolkien", Decimal("10.99"), 0, "9780547928227")
ISLAND = NewBook("island", "Island", "Aldous Huxley", Decimal("12.00"), 3, "9780060085490")


async def open_json_store(directory: Path) -> DocInventoryStore:
    """What the app's lifespan does on start: open the directory and seed (a no-op after the first)."""
    docs = make_docs(InventorySettings(store="json", data_dir=directory), "inventory", upgrade=upgrade)
    store = DocInventoryStore(docs)
    await store.open()
    await store.seed(DEFAULT_CATALOG)
    return store


async def stock(store: DocInventoryStore) -> dict[str, int]:
    return {book.id: book.stock for book in (await store.list_books()).items}


async def statuses(store: DocInventoryStore, *order_ids: str) -> dict[str, str | None]:
    return {o: r.status if (r := await store.get_hold(o)) else None for o in order_ids}


async def ids(store: DocInventoryStore, query: BookQuery | None = None) -> list[str]:
    return [book.id for book in (await store.list_books(query, limit=1000)).items]


async def stock_of(store: DocInventoryStore, book_id: str) -> int:
    book = await store.get_book(book_id)
    assert book is not None
    return book.stock


def without_id(new: NewBook, isbn: str | None = None) -> NewBook:
    return NewBook(None, new.title, new.author, new.price, new.stock, isbn or new.isbn)
