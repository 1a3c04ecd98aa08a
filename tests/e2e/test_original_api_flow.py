"""The original single-process API's client flow, unchanged, through the gateway of the real system."""

from __future__ import annotations

import re

import httpx
import pytest

from devtools.system import LocalSystem

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# The same flows on the JSON default and on Redis with two instances of every service.
BOTH_STORES = pytest.mark.parametrize("system", ["json", "redis"], indirect=True)


@BOTH_STORES
async def test_the_original_clients_whole_flow_works_unchanged(client: httpx.AsyncClient) -> None:
    books = await client.get("/api/books")
    assert books.status_code == 200
    assert books.json() == {
        "123": {
            "id": "123",
            "title": "The Great Gatsby",
            "author": "F. Scott Fitzgerald",
            "price": 15.99,
            "stock": 50,
            "isbn": "9780743273565",
        },
        "456": {
            "id": "456",
            "title": "1984",
            "author": "George Orwell",
            "price": 12.99,
            "stock": 30,
            "isbn": "9780451524935",
        },
        "789": {
            "id": "789",
            "title": "To Kill a Mockingbird",
            "author": "Harper Lee",
            "price": 14.99,
            "stock": 25,
            "isbn": "9780061120084",
        },
    }
    assert (await client.get("/api/books/123")).json()["title"] == "The Great Gatsby"

    placed = await client.post(
        "/api/orders",
        json={
            "customer_id": "cust_001",
            "books": [{"book_id": "123", "quantity": 2}],
            "payment_method": "credit_card",
            "payment_token": "tok_visa",
        },
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order.pop("created_at") and ISO_Z.match(placed.json()["created_at"])
    assert order == {
        "order_id": "order_1",
        "customer_id": "cust_001",
        "books": [{"book_id": "123", "quantity": 2, "unit_price": 15.99}],
        "total_amount": 31.98,
        "status": "Confirmed",
        "payment_status": "Paid",
    }
    assert (await client.get("/api/orders/order_1")).json() == placed.json()
    assert (await client.get("/api/books/123")).json()["stock"] == 48

    created = await client.post(
        "/api/deliveries",
        json={
            "order_id": "order_1",
            "address": "123 Main St, City, State 12345",
            "estimated_delivery_date": "2024-01-15",
        },
    )
    assert created.status_code == 201, created.text
    delivery = created.json()
    assert delivery["delivery_id"] == "del_1"
    assert delivery["order_id"] == "order_1"
    assert delivery["status"] == "Pending"
    assert delivery["estimated_date"] == "2024-01-15"
    assert [h["status"] for h in delivery["history"]] == ["Pending"]
    assert (await client.get("/api/deliveries/del_1")).json() == delivery


@BOTH_STORES
async def test_every_response_carries_the_request_id_sent_or_a_new_one(client: httpx.AsyncClient) -> None:
    # That every process an order touches logs this id: test_observability.py.
    response = await client.post(
        "/api/orders",
        headers={"X-Request-ID": "trace-me-42"},
        json={"customer_id": "c", "books": [{"book_id": "456", "quantity": 1}], "payment_method": "paypal"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "trace-me-42"
    junk = await client.get("/api/books", headers={"X-Request-ID": "no spaces allowed"})
    assert junk.headers["x-request-id"] != "no spaces allowed"
    assert re.fullmatch(r"[0-9a-f]{32}", junk.headers["x-request-id"])


async def test_health_and_readiness_need_no_token(system: LocalSystem) -> None:
    async with httpx.AsyncClient() as plain:
        for name in system.specs:
            base = system.service_url(name)
            assert (await plain.get(base + "/healthz")).status_code == 200
            assert (await plain.get(base + "/readyz")).json() == {"status": "ready"}


@BOTH_STORES
async def test_a_store_left_by_a_stop_opens_again_with_its_data(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    placed = await client.post(
        "/api/orders",
        json={"customer_id": "c", "books": [{"book_id": "789", "quantity": 3}], "payment_method": "paypal"},
    )
    assert placed.status_code == 201
    for name in ("inventory", "sales"):
        assert system.stop(name) == 0
        system.start(name)
    assert (await client.get("/api/orders/order_1")).json() == placed.json()
    assert (await client.get("/api/books/789")).json()["stock"] == 22


def test_a_second_process_on_the_same_data_directory_fails_fast(system: LocalSystem) -> None:
    import subprocess
    import sys

    spec = system.specs["inventory"]
    env = {**__import__("os").environ, **spec.env, "INVENTORY_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "inventory_service"], env=env, capture_output=True, timeout=30, text=True
    )
    assert result.returncode != 0
    assert "is in use by another process" in result.stdout + result.stderr
