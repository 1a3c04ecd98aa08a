"""Sales after an order is placed: listing, customer isolation, cancellation, the moves delivery
reports, and Idempotency-Key, in-process against the fake inventory of test_sales."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.unit.sales_shop import ORDER, Shop

ALICE = {"x-principal-subject": "alice", "x-principal-roles": "customer"}
BOB = {"x-principal-subject": "bob", "x-principal-roles": "customer"}


def for_(customer: str, book: str = "123", quantity: int = 1) -> dict[str, Any]:
    return {**ORDER, "customer_id": customer, "books": [{"book_id": book, "quantity": quantity}]}


async def place(shop: Shop, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await shop.api.post("/api/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


async def ship(shop: Shop, order_id: str, status: str = "Shipped") -> httpx.Response:
    return await shop.api.post(f"/internal/orders/{order_id}/status", json={"status": status})


# --- roles and isolation -------------------------------------------------------------------------


async def test_orders_need_a_principal(shop: Shop) -> None:
    for request in (
        shop.api.build_request("POST", "/api/orders", json=ORDER),
        shop.api.build_request("GET", "/api/orders"),
        shop.api.build_request("GET", "/api/orders/order_1"),
        shop.api.build_request("POST", "/api/orders/order_1/cancel"),
    ):
        del request.headers["x-principal-subject"]
        response = await shop.api.send(request)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_customer_orders_only_for_itself(shop: Shop) -> None:
    refused = await shop.api.post("/api/orders", json=for_("bob"), headers=ALICE)

    assert refused.status_code == 403
    assert refused.json()["error"] == "Customers may order only for themselves"
    assert shop.inventory.calls == []
    assert (await place(shop, for_("alice"), **ALICE))["customer_id"] == "alice"


async def test_another_customers_order_does_not_exist_for_a_customer(shop: Shop) -> None:
    bobs = await place(shop, for_("bob"), **BOB)

    for response in (
        await shop.api.get(f"/api/orders/{bobs['order_id']}", headers=ALICE),
        await shop.api.post(f"/api/orders/{bobs['order_id']}/cancel", headers=ALICE),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "Order not found"
    assert (await shop.order(bobs["order_id"]))["status"] == "Confirmed"
    assert (await shop.api.get(f"/api/orders/{bobs['order_id']}", headers=BOB)).status_code == 200


# --- listing -------------------------------------------------------------------------------------


async def test_orders_list_in_the_order_placed_with_paging(shop: Shop) -> None:
    ids = [(await place(shop, for_(c)))["order_id"] for c in ("alice", "bob", "alice", "carol", "alice")]

    first = await shop.api.get("/api/orders", params={"limit": 2})
    assert list(first.json()) == ids[:2]
    assert first.headers["x-total-count"] == "5"
    link = first.headers["link"]
    assert link.startswith("</api/orders?limit=2&cursor=") and link.endswith('>; rel="next"')

    seen = list(first.json())
    while "link" in (page := await shop.api.get(link[1 : link.index(">")])).headers:
        seen += list(page.json())
        link = page.headers["link"]
    seen += list(page.json())
    assert seen == ids


async def test_a_cursor_stays_valid_while_orders_are_added(shop: Shop) -> None:
    await place(shop, for_("a"))
    await place(shop, for_("b"))
    first = await shop.api.get("/api/orders", params={"limit": 1})
    newer = await place(shop, for_("c"))

    cursor = first.headers["link"].split("cursor=")[1].split(">")[0]
    rest = await shop.api.get("/api/orders", params={"cursor": cursor, "limit": 10})

    assert list(rest.json()) == ["order_2", newer["order_id"]]


async def test_orders_filter_by_customer_and_status(shop: Shop) -> None:
    await place(shop, for_("alice"))
    await place(shop, for_("bob"))
    await place(shop, for_("alice"))
    await shop.api.post("/api/orders/order_3/cancel")
    declined = await shop.api.post("/api/orders", json={**for_("alice"), "payment_token": "tok_declined"})
    assert declined.status_code == 402

    alices = await shop.api.get("/api/orders", params={"customer_id": "alice"})
    assert list(alices.json()) == ["order_1", "order_3", "order_4"]
    cancelled = await shop.api.get("/api/orders", params={"customer_id": "alice", "status": "Cancelled"})
    assert list(cancelled.json()) == ["order_3"]
    assert cancelled.headers["x-total-count"] == "1"
    failed = await shop.api.get("/api/orders", params={"status": "Failed"})
    assert list(failed.json()) == ["order_4"]


async def test_a_customer_lists_only_its_own_orders(shop: Shop) -> None:
    await place(shop, for_("alice"), **ALICE)
    await place(shop, for_("bob"), **BOB)

    own = await shop.api.get("/api/orders", headers=ALICE)
    asked_for_bob = await shop.api.get("/api/orders", params={"customer_id": "bob"}, headers=ALICE)

    assert list(own.json()) == ["order_1"]
    assert asked_for_bob.json() == {}
    assert asked_for_bob.headers["x-total-count"] == "0"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"cursor": "bogus"},
        {"cursor": "djE6eA"},
        {"status": "Lost"},
    ],
)
async def test_bad_listing_parameters_are_400(shop: Shop, params: dict[str, Any]) -> None:
    response = await shop.api.get("/api/orders", params=params)
    assert response.status_code == 400
    assert "error" in response.json()


# --- cancellation --------------------------------------------------------------------------------


async def test_cancelling_refunds_and_returns_the_units(shop: Shop) -> None:
    order = await place(shop, for_("alice", "789", 4))
    assert shop.inventory.stock["789"] == 21

    response = await shop.api.post(f"/api/orders/{order['order_id']}/cancel")

    assert response.status_code == 200
    cancelled = response.json()
    assert (cancelled["status"], cancelled["payment_status"]) == ("Cancelled", "Refunded")
    assert shop.inventory.stock["789"] == 25
    assert order["order_id"] in shop.payments.refunds
    assert await shop.order(order["order_id"]) == cancelled


async def test_cancelling_twice_returns_the_order_unchanged(shop: Shop) -> None:
    order = await place(shop, for_("alice", "789", 4))
    first = (await shop.api.post(f"/api/orders/{order['order_id']}/cancel")).json()

    again = await shop.api.post(f"/api/orders/{order['order_id']}/cancel")

    assert again.status_code == 200
    assert again.json() == first
    assert shop.inventory.stock["789"] == 25
    assert shop.inventory.count("return") == 1


@pytest.mark.parametrize(
    ("moves", "message"),
    [
        (["Shipped"], "Order order_1 has shipped and can no longer be cancelled"),
        (["Shipped", "Delivered"], "Order order_1 has shipped and can no longer be cancelled"),
    ],
)
async def test_a_shipped_order_cannot_be_cancelled(shop: Shop, moves: list[str], message: str) -> None:
    await place(shop, for_("alice"))
    for status in moves:
        assert (await ship(shop, "order_1", status)).status_code == 200

    response = await shop.api.post("/api/orders/order_1/cancel")

    assert response.status_code == 409
    assert response.json()["error"] == message
    assert (await shop.order())["status"] == moves[-1]
    assert shop.inventory.count("return") == 0


async def test_a_failed_order_cannot_be_cancelled(shop: Shop) -> None:
    assert (await shop.place(payment_token="tok_declined")).status_code == 402

    response = await shop.api.post("/api/orders/order_1/cancel")

    assert response.status_code == 409
    assert response.json()["error"] == "Order order_1 is Failed"


async def test_a_cancel_while_inventory_is_down_finishes_through_recovery(shop: Shop) -> None:
    await place(shop, for_("alice", "456", 3))
    shop.inventory.fail("return")

    response = await shop.api.post("/api/orders/order_1/cancel")

    assert response.status_code == 503
    assert "order_1 is cancelled" in response.json()["error"]
    assert (await shop.order())["status"] == "Cancelled"
    assert shop.inventory.stock["456"] == 27

    shop.inventory.heal()
    await shop.recover()

    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Cancelled", "Refunded")
    assert shop.inventory.stock["456"] == 30


async def test_cancel_racing_ship_has_exactly_one_winner(shop: Shop) -> None:
    for _ in range(10):
        await place(shop, for_("alice", "123", 1))
    results = await asyncio.gather(
        *(
            call
            for n in range(1, 11)
            for call in (shop.api.post(f"/api/orders/order_{n}/cancel"), ship(shop, f"order_{n}"))
        )
    )

    for n in range(1, 11):
        cancel, shipped = results[2 * (n - 1)], results[2 * (n - 1) + 1]
        assert sorted([cancel.status_code, shipped.status_code]) == [200, 409]
        final = await shop.order(f"order_{n}")
        assert final["status"] == ("Cancelled" if cancel.status_code == 200 else "Shipped")
    cancelled = sum(r.status_code == 200 for r in results[0::2])
    assert shop.inventory.stock["123"] == 50 - 10 + cancelled


# --- the moves delivery reports -------------------------------------------------------------------


async def test_delivery_moves_an_order_to_shipped_then_delivered_and_repeats_are_harmless(shop: Shop) -> None:
    await place(shop, for_("alice"))

    for status in ("Shipped", "Shipped", "Delivered", "Delivered"):
        response = await ship(shop, "order_1", status)
        assert response.status_code == 200
        assert response.json()["status"] == status


@pytest.mark.parametrize(
    ("setup", "status", "message"),
    [
        ("cancel", "Shipped", "Order order_1 is Cancelled"),
        (None, "Delivered", "Order order_1 is Confirmed"),
        ("decline", "Shipped", "Order order_1 is Failed"),
    ],
)
async def test_delivery_cannot_move_an_order_out_of_turn(
    shop: Shop, setup: str | None, status: str, message: str
) -> None:
    if setup == "decline":
        await shop.place(payment_token="tok_declined")
    else:
        await place(shop, for_("alice"))
    if setup == "cancel":
        await shop.api.post("/api/orders/order_1/cancel")

    response = await ship(shop, "order_1", status)

    assert response.status_code == 409
    assert response.json()["error"] == message


async def test_delivery_moves_refuse_unknown_orders_and_statuses(shop: Shop) -> None:
    assert (await ship(shop, "order_9")).status_code == 404
    await place(shop, for_("alice"))
    for bad in ("Cancelled", "Pending", "shipped", 3):
        assert (
            await shop.api.post("/internal/orders/order_1/status", json={"status": bad})
        ).status_code == 400


# --- Idempotency-Key -----------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_replays_the_first_answer(shop: Shop) -> None:
    first = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k1"})
    again = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"
    assert shop.inventory.stock["123"] == 48


async def test_a_replay_also_repeats_a_refusal(shop: Shop) -> None:
    body = {**ORDER, "payment_token": "tok_declined"}
    first = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})
    again = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})

    assert first.status_code == again.status_code == 402
    assert again.json()["order_id"] == first.json()["order_id"]
    assert shop.inventory.count("hold") == 1


async def test_the_same_key_with_another_body_is_409(shop: Shop) -> None:
    await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    other = await shop.api.post("/api/orders", json=for_("zed"), headers={"Idempotency-Key": "k"})

    assert other.status_code == 409
    assert other.json()["error"] == "Idempotency-Key was already used with a different request body"
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"


async def test_the_same_json_written_differently_is_the_same_body(shop: Shop) -> None:
    await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})
    reordered = (
        '{"payment_token": "tok_visa", "payment_method": "credit_card",  '
        '"books": [{"quantity": 2, "book_id": "123"}], "customer_id": "cust_001"}'
    )

    again = await shop.api.post(
        "/api/orders", content=reordered, headers={"Idempotency-Key": "k", "content-type": "application/json"}
    )

    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_to_the_caller(shop: Shop) -> None:
    alice = await shop.api.post(
        "/api/orders", json=for_("alice"), headers={**ALICE, "Idempotency-Key": "same"}
    )
    bob = await shop.api.post("/api/orders", json=for_("bob"), headers={**BOB, "Idempotency-Key": "same"})

    assert alice.status_code == bob.status_code == 201
    assert alice.json()["order_id"] != bob.json()["order_id"]


async def test_fifty_concurrent_retries_with_one_key_make_one_order(shop: Shop) -> None:
    responses = await asyncio.gather(
        *(shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "burst"}) for _ in range(50))
    )

    created = [r for r in responses if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in responses)
    assert len({r.json()["order_id"] for r in created}) == 1
    in_progress = [r for r in responses if r.status_code == 409]
    assert all(
        r.json()["error"] == "A request with this Idempotency-Key is still in progress" for r in in_progress
    )
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"
    assert shop.inventory.count("hold") == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_unusable_key_is_400(shop: Shop, key: str) -> None:
    response = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert shop.inventory.calls == []
