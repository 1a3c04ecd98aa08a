"""The public catalog API of the inventory app, in-process: roles, adding, editing, stock changes,
removal, filters and pages, and what its OpenAPI description promises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from inventory_service.app import create_app
from inventory_service.settings import InventorySettings

ADMIN = {"x-principal-subject": "admin_1", "x-principal-roles": "admin"}
STAFF = {"x-principal-subject": "staff_1", "x-principal-roles": "staff"}
CUSTOMER = {"x-principal-subject": "cust_001", "x-principal-roles": "customer"}
NOBODY: dict[str, str] = {}
BRAVE = {
    "id": "brave",
    "title": "Brave New World",
    "author": "Aldous Huxley",
    "price": 14.5,
    "stock": 20,
    "isbn": "9780060850524",
}
GATSBY = {
    "id": "123",
    "title": "The Great Gatsby",
    "author": "F. Scott Fitzgerald",
    "price": 15.99,
    "stock": 50,
    "isbn": "9780743273565",
}


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    the_app = create_app(InventorySettings(store="memory"))
    async with the_app.router.lifespan_context(the_app):
        yield the_app


def connect(app: FastAPI, headers: dict[str, str]) -> httpx.AsyncClient:
    """A client that calls as the gateway does after resolving a token to these principal headers."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inv", headers=headers)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(app, ADMIN) as c:
        yield c


def assert_envelope(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and "detail" not in body
    if error is not None:
        assert body["error"] == error
    return body


async def catalog(client: httpx.AsyncClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/books{query}")
    assert response.status_code == 200, response.text
    books: dict[str, Any] = response.json()
    return books


# --- roles --------------------------------------------------------------------------------------

ROUTES = {
    "list": ("GET", "/api/books", None),
    "get": ("GET", "/api/books/123", None),
    "add": ("POST", "/api/books", BRAVE),
    "edit": ("PATCH", "/api/books/123", {"price": 9.99}),
    "stock": ("POST", "/api/books/123/stock", {"delta": 1}),
    "delete": ("DELETE", "/api/books/123", None),
}
OK = {"list": 200, "get": 200, "add": 201, "edit": 200, "stock": 200, "delete": 204}


@pytest.mark.parametrize(
    ("who", "route", "status"),
    [
        *[("customer", r, OK[r] if r in ("list", "get") else 403) for r in ROUTES],
        *[("staff", r, 403 if r == "delete" else OK[r]) for r in ROUTES],
        *[("admin", r, OK[r]) for r in ROUTES],
    ],
)
async def test_each_role_may_do_what_the_contract_allows(
    app: FastAPI, who: str, route: str, status: int
) -> None:
    headers = {"customer": CUSTOMER, "staff": STAFF, "admin": ADMIN}[who]
    method, path, body = ROUTES[route]
    async with connect(app, headers) as caller:
        response = await caller.request(method, path, json=body)

    assert response.status_code == status, response.text
    if status == 403:
        assert_envelope(response, 403, "Forbidden")
        async with connect(app, ADMIN) as admin:  # nothing changed
            assert list(await catalog(admin)) == ["123", "456", "789"]
            assert (await admin.get("/api/books/123")).json() == GATSBY


@pytest.mark.parametrize("route", ROUTES)
async def test_without_a_principal_every_books_route_is_401(app: FastAPI, route: str) -> None:
    method, path, body = ROUTES[route]
    async with connect(app, NOBODY) as anonymous:
        response = await anonymous.request(method, path, json=body)
        unknown = await anonymous.get("/api/books/999")

    assert_envelope(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_envelope(unknown, 401)  # checked before whether the book exists


async def test_a_principal_without_a_known_role_is_forbidden_even_to_read(app: FastAPI) -> None:
    async with connect(app, {"x-principal-subject": "someone", "x-principal-roles": "guest"}) as c:
        assert_envelope(await c.get("/api/books"), 403, "Forbidden")


# --- adding -------------------------------------------------------------------------------------


async def test_a_new_book_is_201_with_the_book_and_is_listed_last(client: httpx.AsyncClient) -> None:
    sent = {**BRAVE, "title": "  Brave New World ", "isbn": "978-0-06-085052-4"}

    response = await client.post("/api/books", json=sent)

    assert response.status_code == 201, response.text
    assert response.json() == BRAVE
    assert response.headers["location"] == "/api/books/brave"
    assert (await client.get("/api/books/brave")).json() == BRAVE
    assert list(await catalog(client)) == ["123", "456", "789", "brave"]


async def test_a_new_book_without_an_id_gets_a_number_from_1000(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in BRAVE.items() if k != "id"}

    first = await client.post("/api/books", json=body)
    second = await client.post("/api/books", json={**body, "isbn": "0-8044-2957-x"})

    assert first.json() == {**BRAVE, "id": "1000"}
    assert second.json() == {**BRAVE, "id": "1001", "isbn": "080442957X"}


async def test_a_duplicate_id_is_409_and_a_duplicate_isbn_is_409(client: httpx.AsyncClient) -> None:
    taken_id = await client.post("/api/books", json={**BRAVE, "id": "123"})
    taken_isbn = await client.post("/api/books", json={**BRAVE, "isbn": "9780743273565"})
    as_isbn_10 = await client.post("/api/books", json={**BRAVE, "isbn": "0-7432-7356-7"})

    assert_envelope(taken_id, 409, "Book 123 already exists")
    assert_envelope(taken_isbn, 409, "ISBN 9780743273565 is already in the catalog")
    assert_envelope(as_isbn_10, 409, "ISBN 0743273567 is already in the catalog")
    assert list(await catalog(client)) == ["123", "456", "789"]


def new(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in {**BRAVE, **fields}.items() if v is not ...}


BAD_BOOKS = {
    "id with a slash": new(id="a/b"),
    "id with a space": new(id="a b"),
    "empty id": new(id=""),
    "id of 65 chars": new(id="x" * 65),
    "numeric id": new(id=1234),
    "no title": new(title=...),
    "blank title": new(title="   "),
    "title of 301 chars": new(title="x" * 301),
    "numeric title": new(title=1984),
    "blank author": new(author=""),
    "no price": new(price=...),
    "price 0": new(price=0),
    "negative price": new(price=-1),
    "price with 3 decimals": new(price=15.999),
    "price above a million": new(price=1_000_000.01),
    "price as a string": new(price="15.99"),
    "price true": new(price=True),
    "negative stock": new(stock=-1),
    "stock 1.5": new(stock=1.5),
    "stock as a string": new(stock="20"),
    "stock true": new(stock=True),
    "stock above a billion": new(stock=1_000_000_001),
    "no stock": new(stock=...),
    "isbn with a wrong check digit": new(isbn="9780060850525"),
    "isbn of 12 digits": new(isbn="978006085052"),
    "isbn with letters": new(isbn="97800608505AB"),
    "no isbn": new(isbn=...),
    "an unknown field": new(publisher="Chatto & Windus"),
    "null title": new(title=None),
}


@pytest.mark.parametrize("body", BAD_BOOKS.values(), ids=BAD_BOOKS.keys())
async def test_an_invalid_book_is_400_with_details_and_adds_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/api/books", json=body)

    details = assert_envelope(response, 400, "Invalid request")["details"]
    assert details and all(d["field"] and d["message"] for d in details)
    assert list(await catalog(client)) == ["123", "456", "789"]


async def test_an_isbn_10_ending_in_x_and_the_largest_price_and_stock_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    body = new(isbn="043942089X", price=1_000_000, stock=1_000_000_000)

    response = await client.post("/api/books", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["isbn"] == "043942089X"


# --- editing ------------------------------------------------------------------------------------


async def test_an_edit_changes_the_named_fields_and_returns_the_book(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/books/123", json={"title": " Gatsby ", "price": 9.99})

    assert response.status_code == 200, response.text
    assert response.json() == {**GATSBY, "title": "Gatsby", "price": 9.99}
    assert (await client.get("/api/books/123")).json() == response.json()


async def test_an_edit_to_an_isbn_in_use_is_409(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/books/123", json={"isbn": "978-0-451-52493-5"})

    assert_envelope(response, 409, "ISBN 9780451524935 is already in the catalog")
    assert (await client.get("/api/books/123")).json() == GATSBY


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "Nothing to change"),
        ({"stock": 5}, "Invalid request"),
        ({"id": "124"}, "Invalid request"),
        ({"title": None}, "Invalid request"),
        ({"title": ""}, "Invalid request"),
        ({"price": 0}, "Invalid request"),
        ({"isbn": "9780743273566"}, "Invalid request"),
        ({"title": "Gatsby", "stock": 5}, "Invalid request"),
    ],
)
async def test_an_invalid_edit_is_400_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    assert_envelope(await client.patch("/api/books/123", json=body), 400, error)
    assert (await client.get("/api/books/123")).json() == GATSBY


async def test_editing_an_unknown_book_is_404(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.patch("/api/books/999", json={"title": "x"}), 404, "Book not found")


# --- stock --------------------------------------------------------------------------------------


async def test_a_stock_delta_returns_the_book_with_its_new_stock(client: httpx.AsyncClient) -> None:
    added = await client.post("/api/books/123/stock", json={"delta": 10})
    removed = await client.post("/api/books/123/stock", json={"delta": -60})

    assert (added.status_code, removed.status_code) == (200, 200)
    assert added.json() == {**GATSBY, "stock": 60}
    assert removed.json() == {**GATSBY, "stock": 0}


async def test_removing_more_than_the_stock_is_409_with_the_numbers(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/books/123/stock", json={"delta": -60})

    body = assert_envelope(response, 409, "Not enough stock of book 123 to remove 60")
    assert body["details"] == [{"book_id": "123", "stock": 50, "delta": -60}]
    assert (await client.get("/api/books/123")).json()["stock"] == 50


BAD_DELTAS = {
    "1.5": {"delta": 1.5},
    "a string": {"delta": "5"},
    "true": {"delta": True},
    "above a billion": {"delta": 1_000_000_001},
    "below minus a billion": {"delta": -1_000_000_001},
    "missing": {},
    "an unknown field": {"delta": 1, "reason": "recount"},
    "a list": [1],
}


@pytest.mark.parametrize("body", BAD_DELTAS.values(), ids=BAD_DELTAS.keys())
async def test_an_invalid_delta_is_400_and_changes_nothing(client: httpx.AsyncClient, body: Any) -> None:
    assert_envelope(await client.post("/api/books/123/stock", json=body), 400, "Invalid request")
    assert (await client.get("/api/books/123")).json()["stock"] == 50


async def test_a_stock_change_of_an_unknown_book_is_404(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.post("/api/books/999/stock", json={"delta": 1}), 404, "Book not found")


# --- removal ------------------------------------------------------------------------------------


async def test_a_removed_book_is_204_with_no_body_and_then_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/books/456")

    assert response.status_code == 204
    assert response.content == b""
    assert_envelope(await client.get("/api/books/456"), 404, "Book not found")
    assert_envelope(await client.delete("/api/books/456"), 404, "Book not found")
    assert list(await catalog(client)) == ["123", "789"]


async def test_a_book_held_for_an_order_is_409_until_the_hold_is_released(client: httpx.AsyncClient) -> None:
    await client.post(
        "/internal/holds", json={"order_id": "o1", "lines": [{"book_id": "123", "quantity": 1}]}
    )

    held = await client.delete("/api/books/123")
    await client.post("/internal/holds/o1/release")
    released = await client.delete("/api/books/123")

    assert_envelope(held, 409, "Book 123 has units held for orders in progress")
    assert released.status_code == 204


# --- listing ------------------------------------------------------------------------------------


def cursor_of(link: str) -> str:
    url = link.removeprefix("<").split(">;")[0]
    return parse_qs(urlsplit(url).query)["cursor"][0]


async def test_pages_of_two_carry_the_total_and_a_link_to_the_next(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/books", params={"limit": 2})
    link = first.headers["link"]
    second = await client.get(link.removeprefix("<").split(">;")[0])

    assert list(first.json()) == ["123", "456"]
    assert first.headers["x-total-count"] == "3"
    assert link.endswith('>; rel="next"') and link.startswith("</api/books?limit=2&cursor=")
    assert list(second.json()) == ["789"]
    assert second.json()["789"]["title"] == "To Kill a Mockingbird"
    assert second.headers["x-total-count"] == "3"
    assert "link" not in second.headers


async def test_the_next_page_continues_past_books_added_meanwhile(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/books?limit=2")
    await client.post("/api/books", json=BRAVE)

    rest = await client.get("/api/books", params={"limit": 2, "cursor": cursor_of(first.headers["link"])})

    assert list(rest.json()) == ["789", "brave"]
    assert rest.headers["x-total-count"] == "4"
    assert "link" not in rest.headers


async def test_filters_and_pages_combine_and_the_link_keeps_the_filters(client: httpx.AsyncClient) -> None:
    await client.post("/api/books", json=BRAVE)
    await client.post("/api/books", json=new(id="island", title="Island", isbn="9780060085490", stock=0))
    await client.post("/api/books/789/stock", json={"delta": -25})

    first = await client.get("/api/books", params={"q": "E", "in_stock": "true", "limit": 2})
    rest = await client.get(first.headers["link"].removeprefix("<").split(">;")[0])

    assert list(first.json()) == ["123", "456"]
    assert list(rest.json()) == ["brave"]
    assert first.headers["x-total-count"] == rest.headers["x-total-count"] == "3"
    assert list(await catalog(client, "?author=ALDOUS%20huxley")) == ["brave", "island"]
    assert list(await catalog(client, "?in_stock=false")) == ["789", "island"]
    assert list(await catalog(client, "?q=mocking")) == ["789"]
    assert await catalog(client, "?q=nothing-like-this") == {}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "limit=-1", "cursor=nonsense", "cursor=djI6MQ", "in_stock=maybe"],
)
async def test_an_invalid_limit_cursor_or_filter_is_400(client: httpx.AsyncClient, query: str) -> None:
    assert_envelope(await client.get(f"/api/books?{query}"), 400)


async def test_a_limit_of_1000_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/books?limit=1000")

    assert list(response.json()) == ["123", "456", "789"]
    assert "link" not in response.headers


# --- the API description ------------------------------------------------------------------------


async def test_every_books_operation_is_described_with_its_errors_and_internal_routes_are_not(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {
        (method, path): op for path, item in document["paths"].items() for method, op in item.items()
    }

    assert not [path for _, path in operations if path.startswith("/internal")]
    expected = {
        ("get", "/api/books"): {"400"},
        ("get", "/api/books/{book_id}"): {"404"},
        ("post", "/api/books"): {"400", "403", "409"},
        ("patch", "/api/books/{book_id}"): {"400", "403", "404", "409"},
        ("post", "/api/books/{book_id}/stock"): {"400", "403", "404", "409"},
        ("delete", "/api/books/{book_id}"): {"403", "404", "409"},
    }
    assert set(operations) >= set(expected)
    for key, errors in expected.items():
        op = operations[key]
        assert op["summary"] and op["description"], key
        assert errors <= set(op["responses"]), key
        for status in errors:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, key
    schemas = document["components"]["schemas"]
    for name in ("BookIn", "BookPatch", "StockIn"):
        assert schemas[name]["examples"], name
    assert "204" in operations["delete", "/api/books/{book_id}"]["responses"]
