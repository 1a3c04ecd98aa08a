"""The sales service in-process: the order saga against a fake inventory, its recovery, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sales_service.app import create_app
from sales_service.domain import Order, OrderLine
from sales_service.settings import SalesSettings
from tests.unit.sales_shop import FULL_STOCK, ORDER, STAFF, TIMESTAMP, Shop


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The contract's error shape, never FastAPI's `{"detail": ...}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "detail" not in body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def assert_no_order(shop: Shop, order_id: str = "order_1") -> None:
    body = assert_envelope(await shop.api.get(f"/api/orders/{order_id}"), 404)
    assert body["error"] == "Order not found"


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


async def test_inventory_down_at_the_hold_is_503_and_stores_nothing(shop: Shop) -> None:
    shop.inventory.fail("hold")

    response = await shop.place()

    body = assert_envelope(response, 503)
    assert body["error"] == "The inventory service is unavailable"
    assert response.headers["retry-after"].isdigit()
    # A hold is keyed by the order id, so it is retried (bounded); then the release is sent.
    assert shop.inventory.calls == [("hold", "order_1")] * 3 + [("release", "order_1")]
    assert shop.payments.charges == {}
    await assert_no_order(shop)
    assert await shop.store.pending_orders() == []


async def test_inventory_too_slow_is_504_and_a_hold_that_landed_is_released(shop: Shop) -> None:
    shop.inventory.fail("hold", error=httpx.ReadTimeout, landed=True)

    response = await shop.place()

    body = assert_envelope(response, 504)
    assert body["error"] == "The inventory service did not answer in time"
    assert shop.inventory.status == {"order_1": "released"}
    assert shop.inventory.stock == FULL_STOCK
    assert shop.payments.charges == {}
    await assert_no_order(shop)


async def test_inventory_down_throughout_is_503_after_a_bounded_number_of_releases(shop: Shop) -> None:
    shop.inventory.fail()

    response = await shop.place()

    assert_envelope(response, 503)
    assert shop.inventory.count("hold") == 3  # keyed by the order id: a retry never holds twice
    # Releases are retried too, until the circuit breaker (5 failures in a row) stops calling at all.
    assert 1 <= shop.inventory.count("release") <= 3
    assert len(shop.inventory.calls) <= 6
    await assert_no_order(shop)


def a_hold(**fields: Any) -> bytes:
    return json.dumps(
        {"order_id": "order_1", "status": "held", "expires_at": "2026-11-26T12:05:00Z", **fields}
    ).encode()


WRONG_HOLD_ANSWERS = {
    "500": (500, b'{"error": "Internal server error"}'),
    "409-without-shortages": (409, b'{"error": "Order order_1 already holds other lines"}'),
    "not-json": (200, b"<html>not json</html>"),
    "no-lines": (201, a_hold()),
    "a-book-missing": (201, a_hold(lines=[])),
    "price-null": (201, a_hold(lines=[{"book_id": "123", "quantity": 2, "unit_price": None}])),
}


@pytest.mark.parametrize(("status", "content"), WRONG_HOLD_ANSWERS.values(), ids=WRONG_HOLD_ANSWERS.keys())
async def test_a_wrong_answer_to_the_hold_is_503_never_500_and_stores_nothing(
    shop: Shop, status: int, content: bytes
) -> None:
    shop.inventory.hold_answer = httpx.Response(status, content=content)

    response = await shop.place()

    assert_envelope(response, 503)
    assert response.headers["retry-after"].isdigit()
    assert ("release", "order_1") in shop.inventory.calls
    assert shop.payments.charges == {}
    await assert_no_order(shop)


async def test_a_commit_that_fails_once_is_retried_and_the_order_confirmed(shop: Shop) -> None:
    shop.inventory.fail("commit", times=1)

    response = await shop.place()

    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["payment_status"]) == ("Confirmed", "Paid")
    assert shop.inventory.count("commit") == 2
    assert shop.inventory.status == {"order_1": "committed"}


async def test_commit_down_is_503_and_the_paid_order_stays_pending_for_recovery(shop: Shop) -> None:
    shop.inventory.fail("commit")

    response = await shop.place()

    body = assert_envelope(response, 503)
    assert "order_1" in body["error"]
    assert response.headers["retry-after"].isdigit()
    assert shop.inventory.count("commit") == 3
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Pending", "Paid")
    assert shop.inventory.status == {"order_1": "held"}
    assert shop.payments.charges["order_1"].approved
    assert shop.payments.refunds == set()
    assert [o.order_id for o in await shop.store.pending_orders()] == ["order_1"]


async def test_a_hold_lost_before_the_commit_is_409_and_the_payment_refunded(shop: Shop) -> None:
    shop.inventory.expire_before_commit = True

    response = await shop.place()

    body = assert_envelope(response, 409)
    assert body["error"] == "The stock held for order_1 was released"
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Failed", "Refunded")
    assert shop.payments.refunds == {"order_1"}
    assert shop.inventory.stock == FULL_STOCK
    assert shop.inventory.count("commit") == 1


# --- recovery of interrupted sagas --------------------------------------------------------------


async def an_interrupted_order(shop: Shop, *, charged: bool = False) -> Order:
    """What a crash after the hold (and, if `charged`, after the charge) leaves: an unpaid Pending order."""
    lines = (OrderLine("123", 2),)
    order = await shop.store.add_order(Order("", "cust_001", lines, "credit_card", datetime.now(UTC)))
    prices = await shop.inventory_client.hold(order.order_id, order.wanted())
    order = order.priced(prices)
    await shop.store.save_order(order)
    if charged:
        await shop.payments.charge(order.order_id, order.total_amount, "credit_card", "tok_visa")
    return order


async def test_recovery_confirms_a_paid_order_whose_commit_did_not_get_through(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503
    shop.inventory.heal()

    recovered = await shop.recover()

    assert [(o.order_id, o.status, o.payment_status) for o in recovered] == [("order_1", "Confirmed", "Paid")]
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Confirmed", "Paid")
    assert shop.inventory.status == {"order_1": "committed"}
    assert shop.payments.refunds == set()
    assert await shop.store.pending_orders() == []


async def test_recovery_refunds_a_paid_order_whose_hold_expired_meanwhile(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503
    shop.inventory.heal()
    shop.inventory.expire("order_1")

    recovered = await shop.recover()

    assert [(o.status, o.payment_status) for o in recovered] == [("Failed", "Refunded")]
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Failed", "Refunded")
    assert shop.payments.refunds == {"order_1"}
    assert shop.inventory.stock == FULL_STOCK


async def test_recovery_fails_an_unpaid_pending_order_and_releases_its_units(shop: Shop) -> None:
    await an_interrupted_order(shop)

    recovered = await shop.recover()

    assert [(o.order_id, o.status) for o in recovered] == [("order_1", "Failed")]
    assert (await shop.order())["status"] == "Failed"
    assert shop.inventory.status == {"order_1": "released"}
    assert shop.inventory.stock == FULL_STOCK
    assert shop.payments.refunds == set()
    assert await shop.store.pending_orders() == []


async def test_recovery_refunds_a_charge_the_crash_hid_from_an_unpaid_order(shop: Shop) -> None:
    await an_interrupted_order(shop, charged=True)

    await shop.recover()

    assert (await shop.order())["status"] == "Failed"
    assert shop.payments.refunds == {"order_1"}
    assert shop.inventory.stock == FULL_STOCK


async def test_recovery_leaves_orders_pending_while_inventory_is_down(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503  # order_1: paid, not committed
    await an_interrupted_order(shop)  # order_2: not paid
    shop.inventory.fail()

    recovered = await shop.recover()

    assert recovered == []
    assert [(await shop.order(o))["status"] for o in ("order_1", "order_2")] == ["Pending", "Pending"]
    assert sorted(o.order_id for o in await shop.store.pending_orders()) == ["order_1", "order_2"]
    assert shop.inventory.status == {"order_1": "held", "order_2": "held"}
    assert shop.payments.refunds == set()

    shop.inventory.heal()
    assert [o.status for o in await shop.recover()] == ["Confirmed", "Failed"]


async def test_recovery_leaves_an_order_younger_than_the_grace_alone(shop: Shop) -> None:
    await an_interrupted_order(shop)
    calls = list(shop.inventory.calls)

    recovered = await shop.recover(grace=timedelta(minutes=5))

    assert recovered == []
    assert (await shop.order())["status"] == "Pending"
    assert shop.inventory.calls == calls
    assert shop.inventory.status == {"order_1": "held"}


# --- reading orders, readiness ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/orders/unknown", "/internal/orders/unknown", "/api/orders/order_1"])
async def test_an_unknown_order_is_404_order_not_found(shop: Shop, path: str) -> None:
    body = assert_envelope(await shop.api.get(path), 404)

    assert body["error"] == "Order not found"


async def test_readiness_follows_inventory(shop: Shop) -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    settings = SalesSettings(store="memory", recovery_interval_seconds=3600)
    cut_off = create_app(settings, inventory=httpx.AsyncClient(transport=httpx.MockTransport(down)))
    async with (
        cut_off.router.lifespan_context(cut_off),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cut_off), base_url="http://sales", headers=STAFF
        ) as api,
    ):
        not_ready = await api.get("/readyz")

    assert (await shop.api.get("/readyz")).status_code == 200
    body = assert_envelope(not_ready, 503)
    assert [d["component"] for d in body["details"]] == ["inventory"]


# --- bad input ----------------------------------------------------------------------------------


def order_with(**fields: Any) -> str:
    return json.dumps({**ORDER, **fields})


def order_without(field: str) -> str:
    return json.dumps({k: v for k, v in ORDER.items() if k != field})


def line_with(**fields: Any) -> str:
    return order_with(books=[{"book_id": "123", "quantity": 1, **fields}])


def line_without(field: str) -> str:
    return order_with(books=[{k: v for k, v in {"book_id": "123", "quantity": 1}.items() if k != field}])


BAD_FIELDS = {
    "no-customer-id": order_without("customer_id"),
    "customer-id-empty": order_with(customer_id=""),
    "customer-id-blank": order_with(customer_id="   "),
    "customer-id-number": order_with(customer_id=123),
    "customer-id-null": order_with(customer_id=None),
    "no-books": order_without("books"),
    "books-empty": order_with(books=[]),
    "books-an-object": order_with(books={"book_id": "123", "quantity": 1}),
    "books-a-string": order_with(books="123"),
    "books-101-lines": order_with(books=[{"book_id": "123", "quantity": 1}] * 101),
    "quantity-0": line_with(quantity=0),
    "quantity-negative": line_with(quantity=-1),
    "quantity-1.5": line_with(quantity=1.5),
    "quantity-a-string": line_with(quantity="2"),
    "quantity-true": line_with(quantity=True),
    "quantity-1001": line_with(quantity=1001),
    "quantity-10**30": line_with(quantity=10**30),
    "no-quantity": line_without("quantity"),
    "no-book-id": line_without("book_id"),
    "book-id-number": line_with(book_id=123),
    "book-id-empty": line_with(book_id=""),
    "no-payment-method": order_without("payment_method"),
    "payment-method-bitcoin": order_with(payment_method="bitcoin"),
    "payment-token-number": order_with(payment_token=5),
    "payment-token-256-chars": order_with(payment_token="t" * 256),
}

BAD_BODIES = {
    "not-json": "{bad",
    "a-json-list": json.dumps([ORDER]),
    "json-null": "null",
    "deeply-nested": "[" * 100_000,
    "empty-body": "",
}


async def assert_nothing_happened(shop: Shop) -> None:
    assert shop.inventory.calls == []
    assert shop.payments.charges == {}
    await assert_no_order(shop)


@pytest.mark.parametrize("content", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
async def test_an_invalid_field_is_400_with_details_and_nothing_happens(shop: Shop, content: str) -> None:
    response = await shop.api.post(
        "/api/orders", content=content, headers={"content-type": "application/json"}
    )

    body = assert_envelope(response, 400)
    assert body["error"] == "Invalid request"
    assert body["details"] and all(isinstance(d.get("field"), str) for d in body["details"])
    await assert_nothing_happened(shop)


@pytest.mark.parametrize("content", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_a_body_that_is_no_order_is_400_and_nothing_happens(shop: Shop, content: str) -> None:
    response = await shop.api.post(
        "/api/orders", content=content, headers={"content-type": "application/json"}
    )

    body = assert_envelope(response, 400)
    assert body["error"] == "Invalid request"
    await assert_nothing_happened(shop)


async def test_the_longest_payment_token_and_every_payment_method_are_accepted(shop: Shop) -> None:
    for method in ("credit_card", "debit_card", "paypal"):
        response = await shop.place(payment_method=method, payment_token="t" * 255)
        assert response.status_code == 201, response.text
    assert (await shop.place(payment_token=None)).status_code == 201
