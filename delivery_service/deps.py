"""How routes reach delivery's wiring (built by `app.create_app`)."""

from typing import Annotated

from fastapi import Depends, Request

from delivery_service.clients import Sales
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore


async def _store(request: Request) -> DeliveryStore:
    store: DeliveryStore = request.app.state.store
    return store


async def _sales(request: Request) -> Sales:
    sales: Sales = request.app.state.sales
    return sales


async def _settings(request: Request) -> DeliverySettings:
    settings: DeliverySettings = request.app.state.settings
    return settings


StoreDep = Annotated[DeliveryStore, Depends(_store)]
SalesDep = Annotated[Sales, Depends(_sales)]
SettingsDep = Annotated[DeliverySettings, Depends(_settings)]
