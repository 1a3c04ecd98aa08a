"""Who may see and place which order: a principal is needed, a customer orders only for itself and
never sees another customer's order."""

from __future__ import annotations

from tests.helpers import ALICE, BOB
from tests.unit.sales.fake_inventory import ORDER, Shop, for_, place

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
