"""Inventory's store on every backend (memory, JSON journal, real Redis): holds and their
settlement, the catalog, pages and filters, races; and two instances sharing one Redis."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from inventory_service import services
from inventory_service.domain import (
    DEFAULT_CATALOG,
    Book,
    BookChanges,
    BookExists,
    BookHeld,
    BookNotFound,
    BookQuery,
    HoldConflict,
    HoldNotFound,
    InsufficientStock,
    IsbnTaken,
    NewBook,
    NotEnoughStock,
)
from inventory_service.store import DocInventoryStore
from shared.store.docs import Docs, Tx
from shared.store.redis_docs import RedisDocs
from tests.helpers import RedisServer

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


@pytest.fixture
async def store(docs: Docs) -> DocInventoryStore:
    """The store as the app's lifespan leaves it on start: opened and seeded."""
    the_store = DocInventoryStore(docs)
    await the_store.open()
    await the_store.seed(DEFAULT_CATALOG)
    return the_store


@pytest.fixture
async def instances(redis_server: RedisServer) -> AsyncIterator[tuple[DocInventoryStore, DocInventoryStore]]:
    """Two instances of the service sharing one Redis prefix, each with its own connections."""
    prefix = f"test-{uuid.uuid4().hex}:"
    first = DocInventoryStore(RedisDocs.from_url(redis_server.url, prefix))
    second = DocInventoryStore(RedisDocs.from_url(redis_server.url, prefix))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


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


# --- holds --------------------------------------------------------------------------------------


async def test_the_default_catalog_is_exactly_the_three_contract_books(store: DocInventoryStore) -> None:
    assert (await store.list_books()).items == CONTRACT_BOOKS
    assert await store.get_book("456") == CONTRACT_BOOKS[1]
    assert await store.get_book("999") is None


async def test_a_hold_takes_its_units_out_of_stock(store: DocInventoryStore) -> None:
    hold, created = await store.hold("order_1", {"123": 2, "456": 1}, LATER)

    assert created

    assert hold.status == "held"
    assert hold.quantities() == {"123": 2, "456": 1}
    assert [line.unit_price for line in hold.lines] == [Decimal("15.99"), Decimal("12.99")]
    assert await stock(store) == {"123": 48, "456": 29, "789": 25}
    assert await store.get_hold("order_1") == hold


async def test_a_hold_is_all_or_nothing_across_books(store: DocInventoryStore) -> None:
    with pytest.raises(InsufficientStock) as refused:
        await store.hold("order_1", {"123": 2, "456": 31, "789": 1}, LATER)

    assert refused.value.status == 409
    assert refused.value.details == [{"book_id": "456", "requested": 31, "available": 30}]
    assert await stock(store) == FULL_STOCK
    assert await store.get_hold("order_1") is None


async def test_an_unknown_book_in_a_hold_is_available_zero(store: DocInventoryStore) -> None:
    with pytest.raises(InsufficientStock) as refused:
        await store.hold("order_1", {"123": 1, "999": 1}, LATER)

    assert refused.value.details == [{"book_id": "999", "requested": 1, "available": 0}]
    assert await stock(store) == FULL_STOCK


async def test_a_repeated_hold_for_the_same_order_takes_stock_once(store: DocInventoryStore) -> None:
    first, made = await store.hold("order_1", {"123": 2}, LATER)
    again, made_again = await store.hold("order_1", {"123": 2}, LATER + timedelta(minutes=5))

    assert again == first
    assert (made, made_again) == (True, False)
    assert (await stock(store))["123"] == 48


async def test_a_different_hold_for_the_same_order_is_a_conflict(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 2}, LATER)

    with pytest.raises(HoldConflict) as refused:
        await store.hold("order_1", {"123": 3}, LATER)

    assert refused.value.status == 409
    assert (await stock(store))["123"] == 48


async def test_committing_twice_is_fine_and_keeps_the_units_sold(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 2}, LATER)

    first, _ = await store.commit("order_1")
    again, _ = await store.commit("order_1")

    assert first.status == again.status == "committed"
    assert (await stock(store))["123"] == 48


async def test_releasing_returns_the_units_once(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 2, "789": 5}, LATER)

    released, _ = await store.release("order_1")
    again, _ = await store.release("order_1")

    assert released.status == again.status == "released"
    assert await stock(store) == FULL_STOCK


@pytest.mark.parametrize(("settle", "then"), [("commit", "release"), ("release", "commit")])
async def test_a_settled_hold_cannot_be_settled_the_other_way(
    store: DocInventoryStore, settle: str, then: str
) -> None:
    await store.hold("order_1", {"123": 2}, LATER)
    settled, _ = await getattr(store, settle)("order_1")
    stock_before = await stock(store)

    with pytest.raises(HoldConflict) as refused:
        await getattr(store, then)("order_1")

    assert refused.value.status == 409
    assert await stock(store) == stock_before
    assert await store.get_hold("order_1") == settled


@pytest.mark.parametrize("settle", ["commit", "release"])
async def test_settling_an_unknown_order_is_not_found(store: DocInventoryStore, settle: str) -> None:
    with pytest.raises(HoldNotFound) as refused:
        await getattr(store, settle)("order_404")

    assert refused.value.status == 404
    assert await stock(store) == FULL_STOCK


async def test_returning_a_committed_hold_puts_its_units_back_once(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 2, "789": 5}, LATER)
    await store.commit("order_1")

    returned, _ = await store.return_units("order_1")
    again, _ = await store.return_units("order_1")

    assert returned.status == "returned"
    assert again == returned == await store.get_hold("order_1")
    assert returned.quantities() == {"123": 2, "789": 5}
    assert await stock(store) == FULL_STOCK


async def test_returning_skips_books_removed_since_the_sale(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 2, "789": 5}, LATER)
    await store.commit("order_1")
    await store.delete_book("789")

    returned, _ = await store.return_units("order_1")

    assert returned.status == "returned"
    assert await stock(store) == {"123": 50, "456": 30}


@pytest.mark.parametrize("settle", [None, "release"], ids=["held", "released"])
async def test_only_a_committed_hold_can_be_returned(store: DocInventoryStore, settle: str | None) -> None:
    await store.hold("order_1", {"123": 2}, LATER)
    if settle:
        await getattr(store, settle)("order_1")
    before = await store.get_hold("order_1")
    stock_before = await stock(store)

    with pytest.raises(HoldConflict) as refused:
        await store.return_units("order_1")

    assert refused.value.status == 409
    assert await store.get_hold("order_1") == before
    assert await stock(store) == stock_before


@pytest.mark.parametrize("then", ["commit", "release"])
async def test_a_returned_hold_cannot_be_settled_again(store: DocInventoryStore, then: str) -> None:
    await store.hold("order_1", {"123": 2}, LATER)
    await store.commit("order_1")
    await store.return_units("order_1")

    with pytest.raises(HoldConflict):
        await getattr(store, then)("order_1")

    assert await stock(store) == FULL_STOCK


async def test_returning_an_unknown_order_is_not_found(store: DocInventoryStore) -> None:
    with pytest.raises(HoldNotFound):
        await store.return_units("order_404")


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


async def test_expiry_releases_only_the_holds_whose_time_is_up(store: DocInventoryStore) -> None:
    await store.hold("overdue", {"123": 1}, NOW - timedelta(seconds=1))
    await store.hold("due_now", {"456": 2}, NOW)
    await store.hold("not_yet", {"789": 3}, NOW + timedelta(seconds=1))
    await store.hold("sold", {"123": 4}, NOW - timedelta(hours=1))
    await store.commit("sold")

    expired = await services.expire_holds(store, NOW)

    assert sorted(expired) == ["due_now", "overdue"]
    assert await stock(store) == {"123": 46, "456": 30, "789": 22}
    assert await statuses(store, "overdue", "due_now", "not_yet", "sold") == {
        "overdue": "released",
        "due_now": "released",
        "not_yet": "held",
        "sold": "committed",
    }
    assert await services.expire_holds(store, NOW) == []


async def test_concurrent_holds_never_sell_more_than_the_stock(store: DocInventoryStore) -> None:
    results = await asyncio.gather(
        *(store.hold(f"order_{i}", {"789": 1}, LATER) for i in range(35)), return_exceptions=True
    )

    assert sum(isinstance(r, tuple) for r in results) == 25
    assert sum(isinstance(r, InsufficientStock) for r in results) == 10
    assert (await stock(store))["789"] == 0


async def test_seeding_again_does_not_reset_the_catalog(store: DocInventoryStore) -> None:
    await store.hold("order_1", {"123": 5}, LATER)
    await store.commit("order_1")

    await store.seed(DEFAULT_CATALOG)

    assert (await stock(store))["123"] == 45


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


async def test_a_sweep_racing_commits_either_releases_or_commits_each_hold(
    instances: tuple[DocInventoryStore, DocInventoryStore],
) -> None:
    first, second = instances
    await first.seed(DEFAULT_CATALOG)
    orders = [f"order_{n}" for n in range(20)]
    for order_id in orders:
        await first.hold(order_id, {"789": 1}, NOW - timedelta(seconds=1))

    async def commit(order_id: str) -> bool:
        try:
            await second.commit(order_id)
        except HoldConflict:
            return False
        return True

    swept, committed = await asyncio.gather(
        services.expire_holds(first, NOW), asyncio.gather(*(commit(o) for o in orders))
    )

    sold = {o for o, ok in zip(orders, committed, strict=True) if ok}
    assert sold.isdisjoint(swept) and sold | set(swept) == set(orders)
    assert await statuses(first, *orders) == {o: "committed" if o in sold else "released" for o in orders}
    assert await stock_of(first, "789") == 25 - len(sold)


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
