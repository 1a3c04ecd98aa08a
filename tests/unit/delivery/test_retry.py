"""A delivery move whose call to sales failed is retried until sales takes it or refuses it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from delivery_service import services
from delivery_service.clients import SalesClient
from delivery_service.store import DocDeliveryStore
from shared.errors import ServiceUnavailable
from shared.http import Upstream
from shared.principal import Principal
from shared.store import Tables
from tests.unit.delivery.fake_sales import FakeSales, an_order, failing

CLAIM_SECONDS = 30
NOW = timedelta(0)
OPS = Principal("ops", frozenset({"staff"}))


@pytest.fixture
def sales() -> FakeSales:
    return FakeSales(an_order("order_1"))


@pytest.fixture
def client(sales: FakeSales) -> SalesClient:
    transport = httpx.MockTransport(sales)
    return SalesClient(Upstream("sales", httpx.AsyncClient(transport=transport, base_url="http://sales")))


async def scheduled(store: DocDeliveryStore, client: SalesClient, order_id: str) -> str:
    delivery, _ = await services.schedule_delivery(
        store,
        client,
        order_id=order_id,
        address="1 A St",
        requested_date=None,
        business_days=5,
        principal=OPS,
    )
    return delivery.delivery_id


async def interrupted_ship(store: DocDeliveryStore, client: SalesClient, sales: FakeSales) -> str:
    delivery_id = await scheduled(store, client, "order_1")
    sales.move_answer = failing(httpx.ConnectError)
    with pytest.raises(ServiceUnavailable):
        await services.move_delivery(store, client, delivery_id, "Shipped", claim_seconds=CLAIM_SECONDS)
    sales.move_answer = None
    return delivery_id


async def test_a_move_sales_missed_is_finished_when_sales_is_back(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    delivery_id = await interrupted_ship(store, client, sales)
    assert (await store.get_delivery(delivery_id)).status == "Pending"  # type: ignore[union-attr]

    finished = await services.finish_moves(store, client, grace=NOW)

    assert [(d.delivery_id, d.status) for d in finished] == [(delivery_id, "Shipped")]
    assert sales.orders["order_1"]["status"] == "Shipped"
    assert [h.status for h in finished[0].history] == ["Pending", "Shipped"]
    assert await store.claimed() == []
    assert await services.finish_moves(store, client, grace=NOW) == []


async def test_a_move_still_in_flight_is_left_to_its_own_request(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    await interrupted_ship(store, client, sales)

    left = await services.finish_moves(store, client, grace=timedelta(minutes=5))

    assert left == []
    assert sales.orders["order_1"]["status"] == "Confirmed"
    assert len(await store.claimed()) == 1


async def test_while_sales_is_away_the_move_waits_and_is_tried_again(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    delivery_id = await interrupted_ship(store, client, sales)
    sales.move_answer = failing(httpx.ConnectError)

    assert await services.finish_moves(store, client, grace=NOW) == []
    assert len(await store.claimed()) == 1

    sales.move_answer = None
    finished = await services.finish_moves(store, client, grace=NOW)
    assert [d.delivery_id for d in finished] == [delivery_id]


async def test_a_move_sales_refuses_is_dropped_and_the_delivery_stays(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    delivery_id = await interrupted_ship(store, client, sales)
    sales.orders["order_1"]["status"] = "Cancelled"  # the customer cancelled meanwhile

    assert await services.finish_moves(store, client, grace=NOW) == []

    assert await store.claimed() == []
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and (delivery.status, delivery.claim) == ("Pending", None)
    cancelled = await services.move_delivery(
        store, client, delivery_id, "Cancelled", claim_seconds=CLAIM_SECONDS
    )
    assert cancelled.status == "Cancelled"


# --- deliveries cancelled with their orders -------------------------------------------------------


async def test_a_cancelled_orders_pending_delivery_is_cancelled_with_it(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    sales.orders |= {f"order_{n}": an_order(f"order_{n}") for n in range(2, 151)}
    ids = {f"order_{n}": await scheduled(store, client, f"order_{n}") for n in range(1, 151)}
    for n in (1, 120):
        sales.orders[f"order_{n}"]["status"] = "Cancelled"

    cancelled = await services.cancel_with_orders(store, client)

    assert sorted(d.delivery_id for d in cancelled) == sorted([ids["order_1"], ids["order_120"]])
    assert all([h.status for h in d.history] == ["Pending", "Cancelled"] for d in cancelled)
    assert [len(asked) for asked in sales.cancelled_asked] == [100, 50]  # in batches
    left = await store.list_deliveries(
        customer_id=None, order_id=None, status="Pending", after=None, limit=200
    )
    assert len(left.items) == 148
    assert await services.cancel_with_orders(store, client) == []


async def test_a_delivery_held_by_a_pending_shipped_move_is_cancelled_once_sales_refuses_it(
    sales: FakeSales, client: SalesClient
) -> None:
    store = DocDeliveryStore(Tables())
    delivery_id = await interrupted_ship(store, client, sales)
    sales.orders["order_1"]["status"] = "Cancelled"

    assert await services.cancel_with_orders(store, client) == []  # the Shipped move is unanswered
    assert await services.finish_moves(store, client, grace=NOW) == []  # sales refuses it
    cancelled = await services.cancel_with_orders(store, client)

    assert [(d.delivery_id, d.status) for d in cancelled] == [(delivery_id, "Cancelled")]
