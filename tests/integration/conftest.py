"""Fixtures of the integration tests: the document store on each backend it runs on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.store import Tables
from shared.store.docs import Docs, TablesDocs
from shared.store.redis_docs import RedisDocs
from tests.helpers import RedisServer


@pytest.fixture(params=["memory", "json", "redis"])
async def docs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Docs]:
    """Each backend a store runs on, so one behaviour suite covers them all alike."""
    if request.param == "memory":
        store: Docs = TablesDocs(Tables())
    elif request.param == "json":
        store = TablesDocs(Tables.open(tmp_path / "json"))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        store = RedisDocs.from_url(server.url, f"test-{uuid.uuid4().hex}:")
    yield store
    await store.close()
