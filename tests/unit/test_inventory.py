"""The inventory service: its JSON store across a restart, and its HTTP app in-process on the memory
store. (The store's behaviour on every backend is in tests/integration/test_inventory_store.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inventory_service import services
from inventory_service.app import create_app
from inventory_service.domain import (
    DEFAULT_CATALOG,
)
from inventory_service.settings import InventorySettings
from inventory_service.store import DocInventoryStore
from inventory_service.upgrade import upgrade
from shared.store import Tables
from shared.store.docs import make_docs

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
FULL_STOCK = {"123": 50, "456": 30, "789": 25}
# What the gateway sends after resolving a token (the development token is an admin).
ADMIN = {"x-principal-subject": "staff_1", "x-principal-roles": "admin"}

# The contract's default catalog: id, title, author, price, stock, isbn.
CONTRACT_ROWS = [
    ("123", "The Great Gatsby", "F. Scott Fitzgerald", "15.99", 50, "9780743273565"),
    ("456", "1984", "George Orwell", "12.99", 30, "9780451524935"),
    ("789", "To Kill a Mockingbird", "Harper Lee", "14.99", 25, "9780061120084"),
]
CONTRACT_JSON = {
    i: {"id": i, "title": title, "author": author, "price": float(p), "stock": n, "isbn": isbn}
    for i, title, author, p, n, isbn in CONTRACT_ROWS
}


async def open_json_store(directory: Path) -> DocInventoryStore:
    """What the app's lifespan does on start: open the directory and seed (a no-op after the first)."""
    docs = make_docs(InventorySettings(store="json", data_dir=directory), "inventory", upgrade=upgrade)
    store = DocInventoryStore(docs)
    await store.open()
    await store.seed(DEFAULT_CATALOG)
    return store


async def stock(store: DocInventoryStore) -> dict[str, int]:
    return {book.id: book.stock for book in (await store.list_books()).items}


async def statuses(store: DocInventoryStore, *order_ids: str) -> dict[str, str | None]:
    return {o: r.status if (r := await store.get_hold(o)) else None for o in order_ids}


# --- the JSON store -----------------------------------------------------------------------------


async def test_the_json_store_keeps_stock_and_holds_across_a_restart(tmp_path: Path) -> None:
    store = await open_json_store(tmp_path)
    await store.hold("sold", {"123": 5}, LATER)
    await store.commit("sold")
    held, _ = await store.hold("held", {"456": 2, "789": 1}, LATER)
    await store.hold("gone", {"789": 4}, LATER)
    await store.release("gone")
    await store.close()

    store = await open_json_store(tmp_path)  # seeds again, as every start does
    try:
        assert await stock(store) == {"123": 45, "456": 28, "789": 24}
        assert await store.get_hold("held") == held
        assert await statuses(store, "sold", "gone") == {"sold": "committed", "gone": "released"}
        assert await services.expire_holds(store, LATER) == [
            "held"
        ]  # the open hold is still tracked for expiry
        assert await stock(store) == {"123": 45, "456": 30, "789": 25}
    finally:
        await store.close()


def a_hold_doc(order_id: str, book_id: str, quantity: int, status: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "lines": [[book_id, quantity, "1.00"]],
        "status": status,
        "expires_at": NOW.isoformat(),
    }


async def test_a_journal_written_before_the_code_said_hold_still_loads(tmp_path: Path) -> None:
    # The table and key names as the JSON store has always written them, literally: renaming the
    # code's words must never move where stored data is read from.
    old = Tables.open(tmp_path)
    old.write(
        [("books", b.id, {**b.to_doc(), "pos": n}) for n, b in enumerate(DEFAULT_CATALOG, start=1)]
        + [("isbns", b.isbn, b.id) for b in DEFAULT_CATALOG]
        + [("meta", "seeded", True), ("seq", "book_position", 3)]
    )
    old.write([("books", "123", {**DEFAULT_CATALOG[0].to_doc(), "pos": 1, "stock": 45})])
    old.write([("reservations", "sold", a_hold_doc("sold", "123", 5, "committed"))])
    old.write([("books", "456", {**DEFAULT_CATALOG[1].to_doc(), "pos": 2, "stock": 28})])
    old.write([("reservations", "held", a_hold_doc("held", "456", 2, "held")), ("holds", "held", True)])
    old.close()

    store = await open_json_store(tmp_path)
    try:
        assert await statuses(store, "sold", "held") == {"sold": "committed", "held": "held"}
        assert await stock(store) == {"123": 45, "456": 28, "789": 25}
        assert await services.expire_holds(store, LATER) == ["held"]
        assert await stock(store) == {"123": 45, "456": 30, "789": 25}
    finally:
        await store.close()


# --- the HTTP app -------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(InventorySettings(store="memory"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inventory", headers=ADMIN) as c:
            yield c


def hold_body(quantities: dict[str, int], order_id: str = "order_1") -> dict[str, Any]:
    return {"order_id": order_id, "lines": [{"book_id": b, "quantity": q} for b, q in quantities.items()]}


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The contract's error shape, never FastAPI's `{"detail": ...}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "detail" not in body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def http_stock(client: httpx.AsyncClient) -> dict[str, int]:
    books = (await client.get("/api/books")).json()
    return {book_id: book["stock"] for book_id, book in books.items()}


async def test_the_catalog_is_keyed_by_id_with_prices_as_json_numbers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/books")

    assert response.status_code == 200
    assert response.json() == CONTRACT_JSON
    assert list(response.json()) == ["123", "456", "789"]
    assert '"price":15.99' in response.text.replace(" ", "")


async def test_one_book_is_served_by_its_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/books/789")

    assert response.status_code == 200
    assert response.json() == CONTRACT_JSON["789"]


async def test_an_unknown_book_is_404_book_not_found(client: httpx.AsyncClient) -> None:
    body = assert_envelope(await client.get("/api/books/999"), 404)

    assert body["error"] == "Book not found"


async def test_an_http_hold_is_201_first_and_200_on_an_identical_retry(client: httpx.AsyncClient) -> None:
    first = await client.post("/internal/holds", json=hold_body({"123": 2}))
    again = await client.post("/internal/holds", json=hold_body({"123": 2}))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["status"] == "held"
    assert first.json()["lines"] == [{"book_id": "123", "quantity": 2, "unit_price": 15.99}]
    assert again.json() == first.json()
    assert (await http_stock(client))["123"] == 48


async def test_an_http_hold_of_too_many_is_409_with_the_shortages(client: httpx.AsyncClient) -> None:
    response = await client.post("/internal/holds", json=hold_body({"123": 1, "456": 31, "999": 2}))

    body = assert_envelope(response, 409)
    assert body["details"] == [
        {"book_id": "456", "requested": 31, "available": 30},
        {"book_id": "999", "requested": 2, "available": 0},
    ]
    assert await http_stock(client) == FULL_STOCK


async def test_a_different_http_hold_for_the_same_order_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}))

    assert_envelope(await client.post("/internal/holds", json=hold_body({"456": 2})), 409)
    assert await http_stock(client) == {**FULL_STOCK, "123": 48}


async def test_http_commit_and_release_follow_the_hold_rules(client: httpx.AsyncClient) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}, "sold"))
    await client.post("/internal/holds", json=hold_body({"456": 3}, "dropped"))

    assert (await client.post("/internal/holds/sold/commit")).json()["status"] == "committed"
    assert (await client.post("/internal/holds/sold/commit")).status_code == 200
    assert (await client.post("/internal/holds/dropped/release")).json()["status"] == "released"
    assert_envelope(await client.post("/internal/holds/sold/release"), 409)
    assert_envelope(await client.post("/internal/holds/dropped/commit"), 409)
    assert_envelope(await client.post("/internal/holds/nobody/commit"), 404)
    assert_envelope(await client.post("/internal/holds/nobody/release"), 404)
    assert (await client.get("/internal/holds/sold")).json()["status"] == "committed"
    assert await http_stock(client) == {**FULL_STOCK, "123": 48}


async def test_http_return_of_a_sold_order_restocks_once_and_refuses_a_mere_hold(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/internal/holds", json=hold_body({"123": 2}, "sold"))
    await client.post("/internal/holds/sold/commit")
    await client.post("/internal/holds", json=hold_body({"456": 3}, "held"))

    returned = await client.post("/internal/holds/sold/return")
    again = await client.post("/internal/holds/sold/return")

    assert (returned.status_code, again.status_code) == (200, 200)
    assert returned.json()["status"] == "returned"
    assert again.json() == returned.json()
    assert_envelope(await client.post("/internal/holds/held/return"), 409)
    assert_envelope(await client.post("/internal/holds/nobody/return"), 404)
    assert await http_stock(client) == {**FULL_STOCK, "456": 27}


def with_quantity(quantity: Any) -> dict[str, Any]:
    return {"order_id": "order_1", "lines": [{"book_id": "123", "quantity": quantity}]}


BAD_HOLD_BODIES: dict[str, dict[str, Any]] = {
    "quantity 0": {"json": with_quantity(0)},
    "quantity -1": {"json": with_quantity(-1)},
    "quantity 1.5": {"json": with_quantity(1.5)},
    "quantity as a string": {"json": with_quantity("2")},
    "quantity true": {"json": with_quantity(True)},
    "missing lines": {"json": {"order_id": "order_1"}},
    "empty lines": {"json": {"order_id": "order_1", "lines": []}},
    "missing order id": {"json": {"lines": [{"book_id": "123", "quantity": 1}]}},
    "the same book twice": {
        "json": {"order_id": "order_1", "lines": [{"book_id": "123", "quantity": 1}] * 2}
    },
    "a list instead of an object": {"json": [with_quantity(1)]},
    "broken json": {
        "content": b'{"order_id": "order_1", "lines": [',
        "headers": {"content-type": "application/json"},
    },
}


@pytest.mark.parametrize("request_kwargs", BAD_HOLD_BODIES.values(), ids=BAD_HOLD_BODIES.keys())
async def test_a_bad_hold_body_is_400_and_holds_nothing(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any]
) -> None:
    response = await client.post("/internal/holds", **request_kwargs)

    assert_envelope(response, 400)
    assert await http_stock(client) == FULL_STOCK
    assert_envelope(await client.get("/internal/holds/order_1"), 404)


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/nowhere", 404, "Not found"),
        ("GET", "/internal/holds/order_404", 404, "Hold not found"),
        ("DELETE", "/api/books", 405, "Method not allowed"),
        ("PUT", "/internal/holds", 405, "Method not allowed"),
    ],
)
async def test_unknown_routes_and_wrong_methods_get_the_envelope(
    client: httpx.AsyncClient, method: str, path: str, status: int, error: str
) -> None:
    body = assert_envelope(await client.request(method, path), status)

    assert body["error"] == error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/books"),
        ("GET", "/api/books/999"),
        ("POST", "/internal/holds"),
        ("DELETE", "/api/books"),
        ("GET", "/healthz"),
    ],
)
async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert response.headers["x-request-id"]


async def test_a_sane_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    sane = "req-42.abc:XYZ_9"
    ok = await client.get("/api/books", headers={"X-Request-ID": sane})
    missing = await client.get("/api/books/999", headers={"X-Request-ID": sane})

    assert ok.headers["x-request-id"] == sane
    assert assert_envelope(missing, 404)["request_id"] == sane


@pytest.mark.parametrize("junk", ["x" * 300, "has spaces in it", "semi;colon", "ünïcode"])
async def test_a_junk_client_request_id_is_replaced(client: httpx.AsyncClient, junk: str) -> None:
    response = await client.get("/api/books/999", headers=[(b"x-request-id", junk.encode())])

    replaced = response.headers["x-request-id"]
    assert replaced and replaced != junk
    assert " " not in replaced and len(replaced) <= 128
    assert assert_envelope(response, 404)["request_id"] == replaced
