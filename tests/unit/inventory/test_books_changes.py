"""Changing the catalog through inventory's API: adding a book, editing it, changing its stock and
removing it; bad input is 400 and changes nothing, a conflict is 409 with the numbers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import assert_envelope
from tests.unit.inventory.books import BRAVE, GATSBY, catalog, new

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
