"""Inventory's HTTP routes: the public catalog under /api/books, holds under /internal/holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from inventory_service import services
from inventory_service.deps import Filters, SettingsDep, StoreDep
from inventory_service.domain import Hold
from inventory_service.schemas import BookIn, BookOut, BookPatch, HoldIn, HoldOut, StockIn
from inventory_service.store import InventoryStore
from shared.lean import Handler, Headers, LeanCall, LeanRoute
from shared.schemas import error_responses
from shared.web import Admin, Caller, Paging, Staff, page_headers

books = APIRouter(prefix="/api/books", tags=["books"])
internal = APIRouter(prefix="/internal/holds", tags=["internal"], include_in_schema=False)

NOT_STAFF = "The caller is not staff"


@books.get(
    "", summary="List the catalog", responses=error_responses({400: "Invalid filter, limit or cursor"})
)
async def list_books(
    _: Caller, store: StoreDep, filters: Filters, paging: Paging, request: Request, response: Response
) -> dict[str, BookOut]:
    """Books keyed by id in catalog order (the order they were added); follow `Link` for more."""
    page = await services.list_books(store, filters, after=paging.after, limit=paging.limit)
    page_headers(request, response, page)
    return {book.id: BookOut.of(book) for book in page.items}


@books.get(
    "/{book_id}",
    response_model=BookOut,
    summary="Get a book",
    responses=error_responses({404: "No such book"}),
)
async def get_book(book_id: str, _: Caller, store: StoreDep) -> Response:
    """The book with this catalog id."""
    return _json(BookOut.json_of(await services.get_book(store, book_id)))


@books.post(
    "",
    status_code=201,
    summary="Add a book",
    responses=error_responses(
        {400: "Invalid book (details per field)", 403: NOT_STAFF, 409: "The id or the ISBN is taken"}
    ),
)
async def add_book(body: BookIn, _: Staff, store: StoreDep, response: Response) -> BookOut:
    """Adds the book at the end of the catalog; without `id` it gets a fresh numeric one.
    An ISBN-10 and the ISBN-13 it becomes count as the same ISBN."""
    book = await services.add_book(store, body.new_book())
    response.headers["Location"] = f"/api/books/{book.id}"
    return BookOut.of(book)


@books.patch(
    "/{book_id}",
    summary="Edit a book",
    responses=error_responses(
        {400: "Invalid or no field to change", 403: NOT_STAFF, 404: "No such book", 409: "The ISBN is taken"}
    ),
)
async def edit_book(book_id: str, body: BookPatch, _: Staff, store: StoreDep) -> BookOut:
    """Changes any of title, author, price and isbn; stock changes go through `/stock`."""
    return BookOut.of(await services.edit_book(store, book_id, body.changes()))


@books.post(
    "/{book_id}/stock",
    summary="Add or remove stock",
    responses=error_responses(
        {
            400: "Invalid delta",
            403: NOT_STAFF,
            404: "No such book",
            409: "Not enough stock to remove, or too much to add",
        }
    ),
)
async def change_stock(book_id: str, body: StockIn, _: Staff, store: StoreDep) -> BookOut:
    """Adds `delta` units (negative: removes them, down to 0) in one step with concurrent orders."""
    return BookOut.of(await services.change_stock(store, book_id, body.delta))


@books.delete(
    "/{book_id}",
    status_code=204,
    summary="Remove a book",
    responses=error_responses(
        {403: "The caller is not an admin", 404: "No such book", 409: "Units are held for an order"}
    ),
)
async def remove_book(book_id: str, _: Admin, store: StoreDep) -> None:
    """Removes the book from the catalog; refused while an order in progress holds units of it."""
    await services.remove_book(store, book_id)


# The hold calls answer bytes serialised once (orjson), not a model FastAPI validates and dumps:
# every order makes two of them.
@internal.post("", status_code=201, response_model=HoldOut)
async def hold_stock(body: HoldIn, store: StoreDep, settings: SettingsDep) -> Response:
    hold, created = await services.hold_stock(
        store, body.order_id, body.wanted(), settings.hold_ttl_seconds, body.max_total
    )
    return _hold(hold, 201 if created else 200)


@internal.get("/{order_id}", response_model=HoldOut)
async def get_hold(order_id: str, store: StoreDep) -> Response:
    return _hold(await services.get_hold(store, order_id))


@internal.post("/{order_id}/commit", response_model=HoldOut)
async def commit_hold(order_id: str, store: StoreDep) -> Response:
    return _hold(await services.commit_hold(store, order_id))


@internal.post("/{order_id}/release", response_model=HoldOut)
async def release_hold(order_id: str, store: StoreDep) -> Response:
    return _hold(await services.release_hold(store, order_id))


@internal.post("/{order_id}/return", response_model=HoldOut)
async def return_hold(order_id: str, store: StoreDep) -> Response:
    return _hold(await services.return_hold(store, order_id))


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type="application/json")


def _hold(hold: Hold, status: int = 200) -> Response:
    return _json(HoldOut.json_of(hold), status)


# Lean twins (shared/lean.py) of the hottest routes above: the catalog read and every hold call
# answer in pure ASGI, past FastAPI's routing and dependency solving; the routes above stay
# declared for the API description and answer only what these leave (a body that is not JSON).
async def _lean_book(call: LeanCall) -> tuple[int, bytes, Headers]:
    return 200, BookOut.json_of(await services.get_book(call.state.store, call.params["book_id"])), []


async def _lean_hold_stock(call: LeanCall) -> tuple[int, bytes, Headers]:
    body: HoldIn = call.body
    ttl = call.state.settings.hold_ttl_seconds
    hold, created = await services.hold_stock(
        call.state.store, body.order_id, body.wanted(), ttl, body.max_total
    )
    return 201 if created else 200, HoldOut.json_of(hold), []


def _lean_hold(move: Callable[[InventoryStore, str], Awaitable[Hold]]) -> Handler:
    async def handler(call: LeanCall) -> tuple[int, bytes, Headers]:
        return 200, HoldOut.json_of(await move(call.state.store, call.params["order_id"])), []

    return handler


LEAN = [
    LeanRoute("GET", "/api/books/{book_id}", _lean_book, role="customer"),
    LeanRoute("POST", "/internal/holds", _lean_hold_stock, body=HoldIn),
    LeanRoute("GET", "/internal/holds/{order_id}", _lean_hold(services.get_hold)),
    LeanRoute("POST", "/internal/holds/{order_id}/commit", _lean_hold(services.commit_hold)),
    LeanRoute("POST", "/internal/holds/{order_id}/release", _lean_hold(services.release_hold)),
    LeanRoute("POST", "/internal/holds/{order_id}/return", _lean_hold(services.return_hold)),
]
