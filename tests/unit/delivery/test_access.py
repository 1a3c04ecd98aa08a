"""Who may create and read which delivery: a principal with a known role is needed, a customer
schedules and sees only its own, staff any."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import ALICE, BOB, STAFF
from tests.unit.delivery.fake_sales import (
    ADDRESS,
    FakeSales,
    create,
    post,
)

# --- roles and customer isolation ----------------------------------------------------------------


def every_route(api: httpx.AsyncClient) -> list[httpx.Request]:
    return [
        api.build_request("POST", "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS}),
        api.build_request("GET", "/api/deliveries"),
        api.build_request("GET", "/api/deliveries/del_1"),
        api.build_request("PATCH", "/api/deliveries/del_1", json={"status": "Shipped"}),
    ]


async def test_every_delivery_route_needs_a_principal(api: httpx.AsyncClient, sales: FakeSales) -> None:
    await create(api)
    for request in every_route(api):
        del request.headers["x-principal-subject"]
        response = await api.send(request)
        assert response.status_code == 401, request.url
        assert response.json()["error"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert sales.moves == []
    assert (await api.get("/api/deliveries")).headers["x-total-count"] == "1"


@pytest.mark.parametrize("roles", ["", "guest"])
async def test_a_principal_without_a_known_role_is_forbidden(api: httpx.AsyncClient, roles: str) -> None:
    for request in every_route(api):
        request.headers["x-principal-roles"] = roles
        response = await api.send(request)
        assert response.status_code == 403, request.url
        assert response.json()["error"] == "Forbidden"
    assert (await api.get("/api/deliveries")).json() == {}


async def test_a_customer_schedules_the_delivery_of_its_own_order(api: httpx.AsyncClient) -> None:
    response = await post(api, headers=ALICE, order_id="order_4")
    assert response.status_code == 201
    assert (await api.get("/api/deliveries/del_1", headers=ALICE)).json() == response.json()


@pytest.mark.parametrize(
    "order_id",
    ["order_5", "order_1", "order_3"],
    ids=["another-customers", "staffs-customers", "another-customers-failed"],
)
async def test_another_customers_order_is_as_missing_as_an_unknown_one(
    api: httpx.AsyncClient, order_id: str
) -> None:
    response = await post(api, headers=ALICE, order_id=order_id)
    unknown = await post(api, headers=ALICE, order_id="order_99")

    assert response.status_code == unknown.status_code == 400
    assert response.json()["error"] == f"Order {order_id} not found"
    assert response.json().keys() == unknown.json().keys()
    assert (await api.get("/api/deliveries")).json() == {}


async def test_staff_schedules_deliveries_for_any_customer(api: httpx.AsyncClient) -> None:
    response = await post(api, headers=STAFF, order_id="order_5")
    assert response.status_code == 201
    assert response.json()["order_id"] == "order_5"


async def test_another_customers_delivery_does_not_exist_for_a_customer(api: httpx.AsyncClient) -> None:
    bobs = await create(api, "order_5", **BOB)

    for_alice = await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=ALICE)

    assert for_alice.status_code == 404
    assert for_alice.json()["error"] == "Delivery not found"
    assert (await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=BOB)).json() == bobs
    assert (await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=STAFF)).json() == bobs
