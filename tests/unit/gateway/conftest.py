"""Fixtures of the gateway's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.gateway.in_process import running_gateway


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway in front of services that refuse every connection; it sends no token
    unless a test does."""
    async with running_gateway() as c:
        yield c
