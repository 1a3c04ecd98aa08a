"""Fixtures of inventory's store tests: the store on each backend, and two instances sharing Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from inventory_service.domain import (
    DEFAULT_CATALOG,
)
from inventory_service.store import DocInventoryStore
from shared.store.docs import Docs
from shared.store.redis_docs import RedisDocs
from tests.helpers import RedisServer


@pytest.fixture
async def store(docs: Docs) -> DocInventoryStore:
    """The store as the app's lifespan leaves it on start: opened and seeded."""
    the_store = DocInventoryStore(docs)
    await the_store.open()
    await the_store.seed(DEFAULT_CATALOG)
    return the_store


@pytest.fixture
async def instances(redis_server: RedisServer) -> AsyncIterator[tuple[DocInventoryStore, DocInventoryStore]]:
    """Two instances of the service sharing one Redis prefix, each with its own connections."""
    prefix = f"test-{uuid.uuid4().hex}:"
    first = DocInventoryStore(RedisDocs.from_url(redis_server.url, prefix))
    second = DocInventoryStore(RedisDocs.from_url(redis_server.url, prefix))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
