"""How routes reach delivery's wiring (built in `app.create_app`'s lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from delivery_service.clients import SalesClient
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore


async def _store(request: Request) -> DeliveryStore:
    store: DeliveryStore = request.app.state.store
    return store


async def _sales(request: Request) -> SalesClient:
    sales: SalesClient = request.app.state.sales
    return sales


async def _settings(request: Request) -> DeliverySettings:
    settings: DeliverySettings = request.app.state.settings
    return settings


Store = Annotated[DeliveryStore, Depends(_store)]
Sales = Annotated[SalesClient, Depends(_sales)]
Settings = Annotated[DeliverySettings, Depends(_settings)]
