"""Who may do what to the catalog: a customer reads it, staff also adds, edits and restocks, an
admin also removes; without a principal every books route is 401, with an unknown role 403."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN, CUSTOMER, STAFF, assert_envelope
from tests.unit.inventory.books import BRAVE, GATSBY, Connect, catalog

NOBODY: dict[str, str] = {}


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
    connect: Connect, who: str, route: str, status: int
) -> None:
    headers = {"customer": CUSTOMER, "staff": STAFF, "admin": ADMIN}[who]
    method, path, body = ROUTES[route]
    async with connect(headers) as caller:
        response = await caller.request(method, path, json=body)

    assert response.status_code == status, response.text
    if status == 403:
        assert_envelope(response, 403, "Forbidden")
        async with connect(ADMIN) as admin:  # nothing changed
            assert list(await catalog(admin)) == ["123", "456", "789"]
            assert (await admin.get("/api/books/123")).json() == GATSBY


@pytest.mark.parametrize("route", ROUTES)
async def test_without_a_principal_every_books_route_is_401(connect: Connect, route: str) -> None:
    method, path, body = ROUTES[route]
    async with connect(NOBODY) as anonymous:
        response = await anonymous.request(method, path, json=body)
        unknown = await anonymous.get("/api/books/999")

    assert_envelope(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_envelope(unknown, 401)  # checked before whether the book exists


async def test_a_principal_without_a_known_role_is_forbidden_even_to_read(connect: Connect) -> None:
    async with connect({"x-principal-subject": "someone", "x-principal-roles": "guest"}) as c:
        assert_envelope(await c.get("/api/books"), 403, "Forbidden")
