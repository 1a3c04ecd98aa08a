"""Fixtures of delivery's unit tests: a fake sales service with six orders, and the delivery app in
front of it on the memory store, called as an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from delivery_service.store import DocDeliveryStore
from shared.store import Tables
from tests.unit.delivery.fake_sales import FakeSales, an_order, running


@pytest.fixture
def sales() -> FakeSales:
    """Sales with six orders: order_1 and order_2 of cust_001, order_3 Failed, order_4 and order_6
    alice's, order_5 bob's; all but order_3 Confirmed."""
    return FakeSales(
        an_order("order_1"),
        an_order("order_2"),
        an_order("order_3", status="Failed"),
        an_order("order_4", customer_id="alice"),
        an_order("order_5", customer_id="bob"),
        an_order("order_6", customer_id="alice"),
    )


@pytest.fixture
async def api(sales: FakeSales) -> AsyncIterator[httpx.AsyncClient]:
    """The delivery app in front of `sales`, on the memory store, called as an admin."""
    async with running(sales, delivery_store=DocDeliveryStore(Tables())) as client:
        yield client
