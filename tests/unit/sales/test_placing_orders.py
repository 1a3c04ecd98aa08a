"""Placing an order through sales in-process, against a fake inventory: confirmed and paid at
inventory's prices, ids that increase, a short book 400, a declined or unavailable payment with the
units back; and reading it back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.helpers import assert_envelope
from tests.unit.sales.fake_inventory import FULL_STOCK, TIMESTAMP, Shop, assert_no_order

# --- placing an order ---------------------------------------------------------------------------


async def test_an_order_is_confirmed_and_paid_at_inventory_prices(shop: Shop) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = await shop.place(
        books=[
            {"book_id": "789", "quantity": 3, "unit_price": 0.01},
            {"book_id": "123", "quantity": 2, "price": 0.01},
        ],
        total_amount=0.02,
    )
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    body = response.json()
    created_at = body.pop("created_at")
    assert body == {
        "order_id": "order_1",
        "customer_id": "cust_001",
        "books": [
            {"book_id": "789", "quantity": 3, "unit_price": 14.99},
            {"book_id": "123", "quantity": 2, "unit_price": 15.99},
        ],
        "total_amount": 76.95,  # 3 x 14.99 + 2 x 15.99, exactly
        "status": "Confirmed",
        "payment_status": "Paid",
    }
    assert '"total_amount":76.95,' in response.text.replace(" ", "")
    assert TIMESTAMP.fullmatch(created_at)
    assert before <= datetime.fromisoformat(created_at) <= after
    assert shop.inventory.status == {"order_1": "committed"}
    assert shop.inventory.stock == {"123": 48, "456": 30, "789": 22}
    assert shop.payments.charges["order_1"].approved
    assert shop.payments.refunds == set()


async def test_a_placed_order_reads_back_the_same_publicly_and_internally(shop: Shop) -> None:
    placed = await shop.place()

    public = await shop.api.get("/api/orders/order_1")
    internal = await shop.api.get("/internal/orders/order_1")

    assert public.status_code == internal.status_code == 200
    assert public.json() == internal.json() == placed.json()


async def test_order_ids_increase(shop: Shop) -> None:
    first = await shop.place()
    second = await shop.place(customer_id="cust_002")

    assert (first.json()["order_id"], second.json()["order_id"]) == ("order_1", "order_2")
    assert (await shop.order("order_2"))["customer_id"] == "cust_002"
    assert shop.inventory.status == {"order_1": "committed", "order_2": "committed"}


async def test_lines_for_the_same_book_are_added_together(shop: Shop) -> None:
    response = await shop.place(
        books=[
            {"book_id": "123", "quantity": 1},
            {"book_id": "456", "quantity": 1},
            {"book_id": "123", "quantity": 2},
        ]
    )

    assert response.status_code == 201, response.text
    assert response.json()["books"] == [
        {"book_id": "123", "quantity": 3, "unit_price": 15.99},
        {"book_id": "456", "quantity": 1, "unit_price": 12.99},
    ]
    assert response.json()["total_amount"] == 60.96
    assert shop.inventory.holds == {"order_1": {"123": 3, "456": 1}}
    assert shop.inventory.count("hold") == 1


async def test_one_hundred_lines_are_accepted(shop: Shop) -> None:
    books = [
        {"book_id": b, "quantity": 1} for b, n in (("123", 50), ("456", 30), ("789", 20)) for _ in range(n)
    ]

    response = await shop.place(books=books)

    assert response.status_code == 201, response.text
    assert response.json()["books"] == [
        {"book_id": "123", "quantity": 50, "unit_price": 15.99},
        {"book_id": "456", "quantity": 30, "unit_price": 12.99},
        {"book_id": "789", "quantity": 20, "unit_price": 14.99},
    ]


@pytest.mark.parametrize(
    ("books", "error", "details"),
    [
        ([("123", 51)], "Book 123 not available or insufficient stock", [("123", 51, 50)]),
        ([("999", 1)], "Book 999 not available or insufficient stock", [("999", 1, 0)]),
        (
            [("123", 2), ("456", 31), ("999", 1)],
            "Book 456 not available or insufficient stock",
            [("456", 31, 30), ("999", 1, 0)],
        ),
    ],
    ids=["too-many", "unknown-book", "one-short-line-of-three"],
)
async def test_a_book_short_or_unknown_is_400_and_nothing_is_held_stored_or_charged(
    shop: Shop, books: list[tuple[str, int]], error: str, details: list[tuple[str, int, int]]
) -> None:
    response = await shop.place(books=[{"book_id": b, "quantity": q} for b, q in books])

    body = assert_envelope(response, 400)
    assert body["error"] == error
    assert body["details"] == [{"book_id": b, "requested": r, "available": a} for b, r, a in details]
    assert shop.inventory.stock == FULL_STOCK
    assert shop.inventory.status == {}
    assert shop.payments.charges == {}
    await assert_no_order(shop)


async def test_a_declined_payment_is_402_the_order_failed_and_the_units_back(shop: Shop) -> None:
    response = await shop.place(payment_token="tok_declined")

    body = assert_envelope(response, 402)
    assert body == {"error": "Payment declined", "order_id": "order_1", "request_id": body["request_id"]}
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Failed", "Declined")
    assert order["books"] == [{"book_id": "123", "quantity": 2, "unit_price": 15.99}]
    assert shop.inventory.status == {"order_1": "released"}
    assert shop.inventory.stock == FULL_STOCK
    assert await shop.store.pending_orders() == []


async def test_payment_provider_down_is_503_the_order_failed_and_the_units_back(shop: Shop) -> None:
    response = await shop.place(payment_token="tok_unavailable")

    body = assert_envelope(response, 503)
    assert body["error"] == "Payment provider unavailable"
    assert response.headers["retry-after"].isdigit()
    order = await shop.order()
    assert order["status"] == "Failed"
    assert order["payment_status"] != "Paid"
    assert shop.inventory.status == {"order_1": "released"}
    assert shop.inventory.stock == FULL_STOCK
    assert await shop.store.pending_orders() == []


# --- reading orders, readiness ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/orders/unknown", "/internal/orders/unknown", "/api/orders/order_1"])
async def test_an_unknown_order_is_404_order_not_found(shop: Shop, path: str) -> None:
    body = assert_envelope(await shop.api.get(path), 404)

    assert body["error"] == "Order not found"


async def test_an_order_over_the_most_money_can_carry_is_400_and_nothing_is_held_or_charged(
    shop: Shop,
) -> None:
    """Issue 14, scenario 3: a total of 10^10 was charged, then every read of the order was a 500."""
    shop.inventory.prices["123"] = Decimal("10000000.00")
    shop.inventory.stock["123"] = 100_000

    response = await shop.place(books=[{"book_id": "123", "quantity": 1000}])

    body = assert_envelope(response, 400)
    assert body["details"][0]["field"] == "total"
    assert shop.inventory.stock["123"] == 100_000
    assert shop.inventory.status == {}
    assert shop.payments.charges == {}
    await assert_no_order(shop)


async def test_an_inventory_that_ignores_the_bound_is_caught_before_the_charge(shop: Shop) -> None:
    shop.inventory.prices["123"] = Decimal("10000000.00")
    shop.inventory.stock["123"] = 100_000
    shop.inventory.ignore_max_total = True  # an inventory older than the bound

    body = assert_envelope(await shop.place(books=[{"book_id": "123", "quantity": 1000}]), 400)

    assert body["details"][0]["field"] == "total"
    assert shop.inventory.stock["123"] == 100_000
    assert shop.payments.charges == {}
    await assert_no_order(shop)
