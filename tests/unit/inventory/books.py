"""Books as inventory's API takes and returns them, and the catalog read back through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

FULL_STOCK = {"123": 50, "456": 30, "789": 25}
# A client that calls inventory as the gateway does after resolving a token to these principal headers.
Connect = Callable[[dict[str, str]], httpx.AsyncClient]


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


async def catalog(client: httpx.AsyncClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/books{query}")
    assert response.status_code == 200, response.text
    books: dict[str, Any] = response.json()
    return books


async def http_stock(client: httpx.AsyncClient) -> dict[str, int]:
    books = (await client.get("/api/books")).json()
    return {book_id: book["stock"] for book_id, book in books.items()}


def new(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in {**BRAVE, **fields}.items() if v is not ...}
