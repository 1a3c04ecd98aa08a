"""Fixtures of sales' unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sales_service.payments import SimulatedPayments
from tests.unit.sales.fake_inventory import Shop, running_shop


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """The sales app with a fake inventory and the simulated payment provider; calls as staff."""
    async with running_shop(SimulatedPayments()) as the_shop:
        yield the_shop
