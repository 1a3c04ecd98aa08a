"""Fixtures of inventory's unit tests: its app in-process on the memory store, and clients that call
it as the gateway does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from inventory_service.app import create_app
from inventory_service.settings import InventorySettings
from tests.helpers import ADMIN
from tests.unit.inventory.books import Connect


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    the_app = create_app(InventorySettings(store="memory"))
    async with the_app.router.lifespan_context(the_app):
        yield the_app


@pytest.fixture
def connect(app: FastAPI) -> Connect:
    """Clients that call as the gateway does after resolving a token to the given principal headers."""

    def as_principal(headers: dict[str, str]) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app)
        return httpx.AsyncClient(transport=transport, base_url="http://inventory", headers=headers)

    return as_principal


@pytest.fixture
async def client(connect: Connect) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client."""
    async with connect(ADMIN) as c:
        yield c
