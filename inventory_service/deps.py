"""How routes reach inventory's wiring (built in `app.create_app`'s lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from inventory_service.settings import InventorySettings
from inventory_service.store import InventoryStore


def _store(request: Request) -> InventoryStore:
    store: InventoryStore = request.app.state.store
    return store


def _settings(request: Request) -> InventorySettings:
    settings: InventorySettings = request.app.state.settings
    return settings


Store = Annotated[InventoryStore, Depends(_store)]
Settings = Annotated[InventorySettings, Depends(_settings)]
