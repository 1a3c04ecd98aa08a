"""Reading the catalog through inventory's API: keyed by id with the contract's books, one book by
its id, pages with the total and a link to the next, filters that the link keeps."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers import assert_envelope
from tests.unit.inventory.books import BRAVE, CONTRACT_JSON, catalog, new


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
