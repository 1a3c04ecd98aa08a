"""The catalog in inventory's store on every backend: adding books (ids, ISBNs), editing them,
stock deltas (racing holds), removal (never of a held book), pages and filters."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest

from inventory_service.domain import (
    DEFAULT_CATALOG,
    Book,
    BookChanges,
    BookExists,
    BookHeld,
    BookNotFound,
    BookQuery,
    InsufficientStock,
    IsbnTaken,
    NewBook,
    NotEnoughStock,
)
from inventory_service.store import DocInventoryStore
from tests.integration.inventory.books import (
    BRAVE,
    HOBBIT,
    ISLAND,
    LATER,
    ids,
    stock_of,
    without_id,
)

# --- adding -------------------------------------------------------------------------------------


async def test_an_added_book_is_stored_and_goes_to_the_end_of_the_catalog(
    store: DocInventoryStore,
) -> None:
    added = await store.add_book(BRAVE)

    assert added == Book("brave", "Brave New World", "Aldous Huxley", Decimal("14.50"), 20, "9780060850524")
    assert await store.get_book("brave") == added
    assert await ids(store) == ["123", "456", "789", "brave"]


async def test_books_without_an_id_get_fresh_numbers_from_1000_skipping_ids_in_use(
    store: DocInventoryStore,
) -> None:
    await store.add_book(NewBook("1001", "Taken", "Someone", Decimal(1), 1, "0306406152"))

    first = await store.add_book(without_id(BRAVE))
    second = await store.add_book(without_id(HOBBIT))
    await store.delete_book(second.id)
    third = await store.add_book(without_id(ISLAND))

    assert (first.id, second.id, third.id) == ("1000", "1002", "1003")  # a deleted id is not reused


async def test_a_duplicate_id_is_refused_and_changes_nothing(store: DocInventoryStore) -> None:
    with pytest.raises(BookExists) as refused:
        await store.add_book(NewBook("123", "Other", "Someone", Decimal(1), 1, "9780060850524"))

    assert (refused.value.status, refused.value.message) == (409, "Book 123 already exists")
    assert await store.get_book("123") == DEFAULT_CATALOG[0]
    assert await ids(store) == ["123", "456", "789"]
    assert (await store.add_book(BRAVE)).isbn == "9780060850524"  # the ISBN was not taken


@pytest.mark.parametrize("isbn", ["9780743273565", "0743273567"], ids=["same form", "as isbn-10"])
async def test_a_duplicate_isbn_is_refused_whichever_form_it_is_written_in(
    store: DocInventoryStore, isbn: str
) -> None:
    with pytest.raises(IsbnTaken) as refused:
        await store.add_book(NewBook("new", "Gatsby again", "F. Scott Fitzgerald", Decimal(9), 1, isbn))

    assert (refused.value.status, refused.value.message) == (409, f"ISBN {isbn} is already in the catalog")
    assert await store.get_book("new") is None


# --- editing ------------------------------------------------------------------------------------


async def test_an_edit_changes_only_the_named_fields_and_keeps_the_catalog_position(
    store: DocInventoryStore,
) -> None:
    edited = await store.update_book("123", BookChanges(title="Gatsby", price=Decimal("9.99")))

    assert edited == Book("123", "Gatsby", "F. Scott Fitzgerald", Decimal("9.99"), 50, "9780743273565")
    assert await store.get_book("123") == edited
    assert await ids(store) == ["123", "456", "789"]


async def test_a_new_isbn_frees_the_old_one_for_another_book(store: DocInventoryStore) -> None:
    await store.update_book("123", BookChanges(isbn="9780060850524"))

    gatsby = await store.add_book(NewBook("gatsby", "Gatsby", "Fitzgerald", Decimal(1), 1, "9780743273565"))

    assert gatsby.isbn == "9780743273565"
    with pytest.raises(IsbnTaken):
        await store.add_book(BRAVE)


async def test_a_book_may_keep_its_isbn_in_the_other_form(store: DocInventoryStore) -> None:
    edited = await store.update_book("123", BookChanges(isbn="0743273567"))

    assert edited.isbn == "0743273567"
    with pytest.raises(IsbnTaken):
        await store.add_book(NewBook("again", "Gatsby", "Fitzgerald", Decimal(1), 1, "9780743273565"))


async def test_an_edit_to_another_books_isbn_is_refused_and_changes_nothing(
    store: DocInventoryStore,
) -> None:
    with pytest.raises(IsbnTaken) as refused:
        await store.update_book("123", BookChanges(title="Renamed", isbn="9780451524935"))

    assert refused.value.message == "ISBN 9780451524935 is already in the catalog"
    assert await store.get_book("123") == DEFAULT_CATALOG[0]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update_book("999", BookChanges(title="x")),
        lambda s: s.adjust_stock("999", 1),
        lambda s: s.delete_book("999"),
    ],
    ids=["edit", "stock", "delete"],
)
async def test_changing_an_unknown_book_is_not_found(store: DocInventoryStore, change: Any) -> None:
    with pytest.raises(BookNotFound) as refused:
        await change(store)

    assert refused.value.status == 404
    assert await ids(store) == ["123", "456", "789"]


# --- stock --------------------------------------------------------------------------------------


async def test_stock_deltas_add_and_remove_units_down_to_zero(store: DocInventoryStore) -> None:
    assert (await store.adjust_stock("123", 10)).stock == 60
    assert (await store.adjust_stock("123", -60)).stock == 0
    assert await stock_of(store, "123") == 0


async def test_removing_more_than_the_stock_is_refused_and_changes_nothing(
    store: DocInventoryStore,
) -> None:
    with pytest.raises(NotEnoughStock) as refused:
        await store.adjust_stock("123", -51)

    assert refused.value.status == 409
    assert refused.value.message == "Not enough stock of book 123 to remove 51"
    assert refused.value.details == [{"book_id": "123", "stock": 50, "delta": -51}]
    assert await stock_of(store, "123") == 50


async def test_stock_deltas_racing_holds_lose_no_update(store: DocInventoryStore) -> None:
    shuffle = random.Random(7).shuffle
    takers = [("hold", i) for i in range(50)] + [("remove", i) for i in range(20)]
    shuffle(takers)
    # 40 takers race for the 25 copies and run them out; then the other takers and 50 additions
    # race in a random order.
    rest = takers[40:] + [("add", i) for i in range(50)]
    shuffle(rest)

    async def call(kind: str, n: int) -> tuple[str, bool]:
        try:
            if kind == "hold":
                await store.hold(f"order_{n}", {"789": 1}, LATER)
            else:
                await store.adjust_stock("789", 1 if kind == "add" else -1)
        except (InsufficientStock, NotEnoughStock):
            return kind, False
        return kind, True

    first = await asyncio.gather(*(call(kind, n) for kind, n in takers[:40]))
    assert sum(ok for _, ok in first) == 25
    results = first + await asyncio.gather(*(call(kind, n) for kind, n in rest))

    held = sum(ok for kind, ok in results if kind == "hold")
    removed = sum(ok for kind, ok in results if kind == "remove")
    assert sum(ok for kind, ok in results if kind == "add") == 50
    assert held + removed < 70  # some takers were turned away: stock ran out on the way
    assert await stock_of(store, "789") == 25 - held + 50 - removed
    holds = [await store.get_hold(f"order_{n}") for n in range(50)]
    assert sum(r is not None for r in holds) == held


# --- removal ------------------------------------------------------------------------------------


async def test_a_removed_book_is_gone_and_its_isbn_is_free(store: DocInventoryStore) -> None:
    await store.delete_book("456")

    assert await store.get_book("456") is None
    assert await ids(store) == ["123", "789"]
    again = await store.add_book(NewBook("1984", "1984", "George Orwell", Decimal(1), 1, "9780451524935"))
    assert await ids(store) == ["123", "789", again.id]


async def test_a_book_held_for_an_order_in_progress_cannot_be_removed(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"456": 1, "789": 2}, LATER)

    with pytest.raises(BookHeld) as refused:
        await store.delete_book("789")

    assert (refused.value.status, refused.value.message) == (
        409,
        "Book 789 has units held for orders in progress",
    )
    assert await stock_of(store, "789") == 23
    await store.delete_book("123")  # a book the hold does not include may go


@pytest.mark.parametrize("settle", ["commit", "release"])
async def test_a_book_may_be_removed_once_its_hold_is_settled(store: DocInventoryStore, settle: str) -> None:
    await store.hold("order_1", {"789": 2}, LATER)
    await getattr(store, settle)("order_1")

    await store.delete_book("789")

    assert await store.get_book("789") is None


# --- listing ------------------------------------------------------------------------------------


async def test_pages_follow_the_catalog_order_with_the_total(store: DocInventoryStore) -> None:
    first = await store.list_books(limit=2)
    second = await store.list_books(after=first.next_after, limit=2)

    assert [b.id for b in first.items] == ["123", "456"]
    assert [b.id for b in second.items] == ["789"]
    assert (first.total, second.total) == (3, 3)
    assert first.next_after is not None and second.next_after is None


async def test_a_cursor_stays_valid_when_books_are_added_and_the_next_page_includes_them(
    store: DocInventoryStore,
) -> None:
    first = await store.list_books(limit=2)
    await store.add_book(BRAVE)
    await store.add_book(without_id(HOBBIT))

    rest = await store.list_books(after=first.next_after, limit=2)
    last = await store.list_books(after=rest.next_after, limit=2)

    assert [b.id for b in rest.items] == ["789", "brave"]
    assert [b.id for b in last.items] == ["1000"]
    assert (rest.total, last.next_after) == (5, None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (BookQuery(q="huxley"), ["brave", "island"]),
        (BookQuery(q="THE"), ["123", "hobbit"]),
        (BookQuery(author="aldous HUXLEY"), ["brave", "island"]),
        (BookQuery(author="Huxley"), []),
        (BookQuery(author=""), []),
        (BookQuery(q=""), ["123", "456", "789", "brave", "hobbit", "island"]),
        (BookQuery(in_stock=False), ["hobbit"]),
        (BookQuery(in_stock=True), ["123", "456", "789", "brave", "island"]),
        (BookQuery(q="is", author="Aldous Huxley", in_stock=True), ["island"]),
    ],
)
async def test_filters_select_books_in_catalog_order(
    store: DocInventoryStore, query: BookQuery, expected: list[str]
) -> None:
    for new in (BRAVE, HOBBIT, ISLAND):
        await store.add_book(new)

    page = await store.list_books(query)

    assert [b.id for b in page.items] == expected
    assert page.total == len(expected)


async def test_filters_and_pages_combine(store: DocInventoryStore) -> None:
    for new in (BRAVE, HOBBIT, ISLAND):
        await store.add_book(new)
    query = BookQuery(q="e")  # Gatsby, 1984's George Orwell, Harper Lee, Brave, Hobbit, Island's Aldous

    first = await store.list_books(query, limit=4)
    rest = await store.list_books(query, after=first.next_after, limit=4)

    assert [b.id for b in first.items] == ["123", "456", "789", "brave"]
    assert [b.id for b in rest.items] == ["hobbit", "island"]
    assert first.total == rest.total == 6
    assert rest.next_after is None

    by_author = await store.list_books(BookQuery(author="Aldous Huxley"), limit=1)
    after = await store.list_books(BookQuery(author="Aldous Huxley"), after=by_author.next_after, limit=1)
    assert ([b.id for b in by_author.items], [b.id for b in after.items]) == (["brave"], ["island"])
    assert by_author.total == 2 and after.next_after is None


async def test_an_edited_author_moves_the_book_to_that_authors_list(store: DocInventoryStore) -> None:
    await store.update_book("456", BookChanges(author="Eric Blair"))

    assert await ids(store, BookQuery(author="eric blair")) == ["456"]
    assert await ids(store, BookQuery(author="George Orwell")) == []
