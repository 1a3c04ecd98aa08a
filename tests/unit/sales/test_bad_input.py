"""Bad input to POST /api/orders: every invalid field and every body that is no order is 400 with
details, and nothing is held, charged or stored; the longest valid values are accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import assert_envelope
from tests.unit.sales.fake_inventory import ORDER, Shop, assert_no_order

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
