"""How routes reach sales' wiring (built by `app.create_app`)."""

from typing import Annotated

from fastapi import Depends, Request

from sales_service.clients import Inventory
from sales_service.payments import PaymentProvider
from sales_service.reconcile import HoldsClient
from sales_service.settings import SalesSettings
from sales_service.store import SalesStore


async def _store(request: Request) -> SalesStore:
    store: SalesStore = request.app.state.store
    return store


async def _inventory(request: Request) -> Inventory:
    inventory: Inventory = request.app.state.inventory
    return inventory


async def _holds(request: Request) -> HoldsClient:
    holds: HoldsClient = request.app.state.inventory
    return holds


async def _payments(request: Request) -> PaymentProvider:
    payments: PaymentProvider = request.app.state.payments
    return payments


async def _settings(request: Request) -> SalesSettings:
    settings: SalesSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[SalesSettings, Depends(_settings)]
StoreDep = Annotated[SalesStore, Depends(_store)]
InventoryDep = Annotated[Inventory, Depends(_inventory)]
HoldsDep = Annotated[HoldsClient, Depends(_holds)]
PaymentsDep = Annotated[PaymentProvider, Depends(_payments)]
