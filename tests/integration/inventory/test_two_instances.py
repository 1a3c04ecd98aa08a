"""Two instances of inventory sharing one Redis: racing holds, sweeps, commits, seeding, added books
and removals; each unit sold once, each id given once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from inventory_service import services
from inventory_service.domain import (
    DEFAULT_CATALOG,
    Book,
    BookExists,
    BookHeld,
    InsufficientStock,
    IsbnTaken,
    NewBook,
)
from inventory_service.store import DocInventoryStore
from tests.integration.inventory.books import (
    BRAVE,
    HOBBIT,
    LATER,
    NOW,
    ids,
    statuses,
    stock_of,
    without_id,
)

# --- two instances on one Redis ---------------------------------------------------------------


async def test_two_instances_racing_40_holds_for_25_copies_sell_exactly_25(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)

    results = await asyncio.gather(
        *(instances[n % 2].hold(f"order_{n}", {"789": 1}, LATER) for n in range(40)), return_exceptions=True
    )

    assert sum(isinstance(r, tuple) for r in results) == 25, results
    assert sum(isinstance(r, InsufficientStock) for r in results) == 15
    assert await stock_of(first, "789") == await stock_of(second, "789") == 0
    holds = [await second.get_hold(f"order_{n}") for n in range(40)]
    assert sum(r is not None for r in holds) == 25


async def test_two_instances_sweeping_at_once_release_each_expired_hold_once(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)
    for n in range(20):
        await instances[n % 2].hold(f"order_{n}", {"789": 1}, NOW - timedelta(seconds=1))
    await first.hold("not_yet", {"789": 2}, LATER)

    swept = await asyncio.gather(*(services.expire_holds(instances[n % 2], NOW) for n in range(4)))

    released = [order_id for one_sweep in swept for order_id in one_sweep]
    assert sorted(released) == sorted(f"order_{n}" for n in range(20))  # each by one sweep only
    assert await stock_of(second, "789") == 23
    assert set((await statuses(first, *released)).values()) == {"released"}
    assert await statuses(second, "not_yet") == {"not_yet": "held"}


async def test_instances_starting_together_seed_the_catalog_once(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    # Each instance seeds its own catalog, so a second seeding would show as a mix of the two.
    catalogs = [
        [
            Book(f"{book.id}-{n}", book.title, book.author, book.price, book.stock, book.isbn)
            for book in DEFAULT_CATALOG
        ]
        for n in range(2)
    ]

    await asyncio.gather(*(store.seed(catalog) for store, catalog in zip(instances, catalogs, strict=True)))
    await asyncio.gather(*(store.seed(catalog) for store, catalog in zip(instances, catalogs, strict=True)))

    seeded = await ids(instances[0])
    assert seeded in ([book.id for book in catalog] for catalog in catalogs)
    assert await ids(instances[1]) == seeded
    assert (await instances[1].list_books()).total == 3
    with pytest.raises(IsbnTaken):
        await instances[1].add_book(NewBook("again", "Gatsby", "Fitzgerald", Decimal(1), 1, "9780743273565"))


async def test_two_instances_adding_books_give_each_its_own_id_and_refuse_one_twice(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)
    await second.add_book(NewBook("1003", "Taken", "Someone", Decimal(1), 1, "0306406152"))

    added = await asyncio.gather(
        *(instances[n % 2].add_book(without_id(HOBBIT, isbn=f"979000000{n:04d}")) for n in range(20))
    )
    twice = await asyncio.gather(first.add_book(BRAVE), second.add_book(BRAVE), return_exceptions=True)
    # Clients choosing the very ids being generated: a generated id goes past one taken meanwhile.
    chosen = [
        NewBook(str(n), "Chosen", "Someone", Decimal(1), 1, f"979200000{n:04d}") for n in range(1021, 1031)
    ]
    generated = [without_id(HOBBIT, isbn=f"979300000{n:04d}") for n in range(10)]
    raced = await asyncio.gather(
        *(second.add_book(new) for new in chosen),
        *(first.add_book(new) for new in generated),
        return_exceptions=True,
    )

    assert sorted(int(book.id) for book in added) == [n for n in range(1000, 1021) if n != 1003]
    assert sorted(type(r).__name__ for r in twice) == ["Book", "BookExists"]
    assert all(isinstance(r, Book) for r in raced[10:]), raced[10:]
    assert all(isinstance(r, Book | BookExists) for r in raced[:10]), raced[:10]
    chosen_ok = sum(isinstance(r, Book) for r in raced[:10])
    assert await ids(first) == await ids(second)
    assert len(await ids(first)) == 3 + 1 + 20 + 1 + chosen_ok + 10


async def test_removing_a_book_racing_a_hold_of_it_on_another_instance_lets_one_win(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    books = [f"b{n}" for n in range(20)]
    for n, book_id in enumerate(books):
        await first.add_book(NewBook(book_id, "Book", "Someone", Decimal(1), 1, f"979100000{n:04d}"))

    async def remove(book_id: str) -> bool:
        try:
            await first.delete_book(book_id)
        except BookHeld:
            return False
        return True

    async def hold(book_id: str) -> bool:
        try:
            await second.hold(f"order_{book_id}", {book_id: 1}, LATER)
        except InsufficientStock:
            return False
        return True

    outcomes = await asyncio.gather(*(asyncio.gather(remove(b), hold(b)) for b in books))

    assert all(removed != held for removed, held in outcomes), outcomes
    for book_id, (removed, _) in zip(books, outcomes, strict=True):
        assert (await second.get_book(book_id) is None) == removed
