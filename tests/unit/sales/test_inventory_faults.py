"""The order saga when inventory fails: down or slow at the hold, a wrong answer to it, a commit that
fails once or throughout, a hold lost before the commit; and readiness that follows inventory."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.helpers import assert_envelope
from tests.unit.sales.fake_inventory import FULL_STOCK, Shop, assert_no_order


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


async def test_readiness_follows_inventory(shop: Shop) -> None:
    ready = await shop.api.get("/readyz")
    shop.inventory.fail("health")  # every connection to inventory refused
    not_ready = await shop.api.get("/readyz")

    assert ready.status_code == 200
    body = assert_envelope(not_ready, 503)
    assert [d["component"] for d in body["details"]] == ["inventory"]
