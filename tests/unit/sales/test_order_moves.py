"""An order after it is placed: cancelled (refunded, units returned, once; never once shipped or
failed; finished by recovery when inventory is down), racing a shipment, and the moves delivery
reports (Shipped, then Delivered, never out of turn)."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.sales.fake_inventory import Shop, for_, place, ship

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


# --- cancelled orders, as delivery asks -----------------------------------------------------------


async def test_delivery_learns_which_of_the_orders_it_names_are_cancelled(shop: Shop) -> None:
    for _ in range(3):
        await place(shop, for_("alice"))
    await shop.api.post("/api/orders/order_2/cancel")

    response = await shop.api.get(
        "/internal/orders/cancelled", params=[("order_id", i) for i in ("order_1", "order_2", "order_9")]
    )

    assert response.status_code == 200
    assert response.json() == {"order_ids": ["order_2"]}


async def test_asking_about_too_many_or_no_orders_at_once_is_400(shop: Shop) -> None:
    too_many = [("order_id", f"order_{n}") for n in range(101)]
    for params in (too_many, []):
        response = await shop.api.get("/internal/orders/cancelled", params=params)
        assert response.status_code == 400, response.text
        assert "error" in response.json()
