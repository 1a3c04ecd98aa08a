"""Holds in inventory's store on every backend (memory, JSON journal, real Redis): all or nothing,
idempotent per order, settled once one way, returned once; expiry, and holds racing for stock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from inventory_service import services
from inventory_service.domain import (
    DEFAULT_CATALOG,
    HoldConflict,
    HoldNotFound,
    InsufficientStock,
    TotalTooLarge,
)
from inventory_service.store import DocInventoryStore
from tests.integration.inventory.books import (
    CONTRACT_BOOKS,
    FULL_STOCK,
    LATER,
    NOW,
    statuses,
    stock,
)

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


async def test_a_hold_over_its_max_total_holds_nothing_and_one_at_it_is_taken(
    store: DocInventoryStore,
) -> None:
    """The money bound is decided with the stock, on every backend (Redis: inside the script)."""
    wanted = {"123": 2, "456": 1}  # 2 x 15.99 + 12.99 = 44.97
    with pytest.raises(TotalTooLarge) as refused:
        await store.hold("order_1", wanted, LATER, Decimal("44.96"))

    assert refused.value.status == 400
    assert refused.value.details[0]["field"] == "total"
    assert "44.97" in refused.value.message
    assert await stock(store) == FULL_STOCK
    assert await store.get_hold("order_1") is None
    hold, created = await store.hold("order_1", wanted, LATER, Decimal("44.97"))
    assert created and hold.quantities() == wanted


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
