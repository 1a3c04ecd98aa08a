"""An order's life through the real gateway: idempotent placing, listing, cancelling, and a cancel
racing a shipment, with inventory and delivery as real processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import order_body, stock

# The same on the JSON default and on Redis with two instances of every service.
pytestmark = pytest.mark.parametrize("system", ["json", "redis"], indirect=True)


async def test_fifty_concurrent_retries_with_one_idempotency_key_make_one_order(
    client: httpx.AsyncClient,
) -> None:
    body = order_body("456", 2)
    responses = await asyncio.gather(
        *(
            client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-storm"})
            for _ in range(50)
        )
    )

    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["order_id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert (await client.get("/api/orders")).headers["x-total-count"] == "1"
    assert await stock(client, "456") == 28

    replay = await client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-storm"})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["order_id"] in created


async def test_cancelling_an_order_refunds_it_and_restocks_inventory(client: httpx.AsyncClient) -> None:
    placed = (await client.post("/api/orders", json=order_body("789", 5))).json()
    assert await stock(client, "789") == 20

    cancelled = await client.post(f"/api/orders/{placed['order_id']}/cancel")

    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["payment_status"]) == ("Cancelled", "Refunded")
    assert await stock(client, "789") == 25
    again = await client.post(f"/api/orders/{placed['order_id']}/cancel")
    assert again.status_code == 200 and again.json() == cancelled.json()
    assert await stock(client, "789") == 25


async def test_a_cancel_racing_a_shipment_has_exactly_one_winner(client: httpx.AsyncClient) -> None:
    orders = []
    for _ in range(8):
        placed = (await client.post("/api/orders", json=order_body("123", 2))).json()
        delivery = await client.post(
            "/api/deliveries", json={"order_id": placed["order_id"], "address": "1 Main St"}
        )
        assert delivery.status_code == 201, delivery.text
        orders.append((placed["order_id"], delivery.json()["delivery_id"]))

    results = await asyncio.gather(
        *(
            call
            for order_id, delivery_id in orders
            for call in (
                client.post(f"/api/orders/{order_id}/cancel"),
                client.patch(f"/api/deliveries/{delivery_id}", json={"status": "Shipped"}),
            )
        )
    )

    cancelled_units = 0
    for i, (order_id, delivery_id) in enumerate(orders):
        cancel, ship = results[2 * i], results[2 * i + 1]
        assert sorted([cancel.status_code, ship.status_code]) == [200, 409], (cancel.text, ship.text)
        order = (await client.get(f"/api/orders/{order_id}")).json()
        delivery = (await client.get(f"/api/deliveries/{delivery_id}")).json()
        if cancel.status_code == 200:
            assert (order["status"], delivery["status"]) == ("Cancelled", "Pending")
            cancelled_units += 2
        else:
            assert (order["status"], delivery["status"]) == ("Shipped", "Shipped")
    assert await stock(client, "123") == 50 - 16 + cancelled_units


async def test_orders_page_through_the_gateway_with_relative_links(client: httpx.AsyncClient) -> None:
    for customer in ("a", "b", "a"):
        body = {**order_body("123", 1), "customer_id": customer}
        assert (await client.post("/api/orders", json=body)).status_code == 201

    first = await client.get("/api/orders", params={"limit": 2})
    second = await client.get(first.headers["link"][1 : first.headers["link"].index(">")])

    assert first.headers["x-total-count"] == "3"
    assert list(first.json()) + list(second.json()) == ["order_1", "order_2", "order_3"]
    assert "link" not in second.headers
    only_a = await client.get("/api/orders", params={"customer_id": "a"})
    assert list(only_a.json()) == ["order_1", "order_3"]
