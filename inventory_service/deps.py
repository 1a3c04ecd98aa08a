"""How routes reach inventory's wiring (built by `app.create_app`) and read the catalog filters."""

from typing import Annotated

from fastapi import Depends, Query, Request

from inventory_service.domain import BookQuery
from inventory_service.settings import InventorySettings
from inventory_service.store import InventoryStore


async def _store(request: Request) -> InventoryStore:
    store: InventoryStore = request.app.state.store
    return store


async def _settings(request: Request) -> InventorySettings:
    settings: InventorySettings = request.app.state.settings
    return settings


async def _book_query(
    q: Annotated[
        str | None, Query(max_length=300, description="Part of the title or author, any case")
    ] = None,
    author: Annotated[
        str | None, Query(max_length=300, description="The author's exact name, any case")
    ] = None,
    in_stock: Annotated[bool | None, Query(description="true: stock above 0; false: sold out")] = None,
) -> BookQuery:
    return BookQuery(q, author, in_stock)


StoreDep = Annotated[InventoryStore, Depends(_store)]
SettingsDep = Annotated[InventorySettings, Depends(_settings)]
Filters = Annotated[BookQuery, Depends(_book_query)]
