"""Recovery owns what it recovers (issue 14, scenario 2): every move is a compare-and-set, so a
copy read before the order moved on writes nothing; a live saga's lease keeps recovery away; of
two recoverers only one works on an order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from sales_service import recovery, services
from sales_service.domain import HandedOver, OrderLine
from sales_service.payments import Charge, SimulatedPayments
from shared.idempotency import Key
from shared.principal import Principal
from tests.unit.sales.fake_inventory import EVERYTHING_IS_OLD, FULL_STOCK, Shop, running_shop, ship


async def a_paid_order_whose_commit_failed(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503
    shop.inventory.heal()


async def test_recovery_with_a_copy_read_before_the_order_shipped_leaves_it_shipped(shop: Shop) -> None:
    """Recovery read Paid; the order was confirmed and shipped meanwhile; its late write must not
    revert Shipped to Confirmed (on main it did, and a cancel then refunded a shipped parcel)."""
    await a_paid_order_whose_commit_failed(shop)
    stale = await shop.store.get_order("order_1")
    assert stale is not None and (stale.status, stale.payment_status) == ("Pending", "Paid")
    await shop.recover()  # the live saga's part: confirmed
    assert (await ship(shop, "order_1")).status_code == 200

    after = await recovery.recover_order(shop.store, shop.inventory_client, shop.app_payments, stale)

    assert after.status == "Shipped"
    assert (await shop.order())["status"] == "Shipped"
    assert (await shop.api.post("/api/orders/order_1/cancel")).status_code == 409
    assert shop.payments.refunds == set()


async def test_recovery_with_a_stale_copy_never_revives_a_cancelled_order(shop: Shop) -> None:
    await a_paid_order_whose_commit_failed(shop)
    stale = await shop.store.get_order("order_1")
    assert stale is not None
    await shop.recover()
    assert (await shop.api.post("/api/orders/order_1/cancel")).status_code == 200

    after = await recovery.recover_order(shop.store, shop.inventory_client, shop.app_payments, stale)

    assert (after.status, after.payment_status) == ("Cancelled", "Refunded")
    assert ((await shop.order())["status"], (await shop.order())["payment_status"]) == (
        "Cancelled",
        "Refunded",
    )
    assert shop.inventory.stock == FULL_STOCK


class GatedPayments(SimulatedPayments):
    """Charges wait until the test opens the gate: a saga caught between its hold and its charge."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        self.waiting.set()
        await self.gate.wait()
        return await super().charge(order_id, amount, method, token)


@pytest.fixture
async def gated() -> AsyncIterator[Shop]:
    async with running_shop(GatedPayments()) as the_shop:
        yield the_shop


async def test_recovery_leaves_a_live_saga_alone_even_past_the_grace(gated: Shop) -> None:
    placing = asyncio.create_task(gated.place())
    await gated.payments.waiting.wait()

    recovered = await gated.recover()  # every Pending order counts as old

    assert recovered == []
    assert gated.inventory.status == {"order_1": "held"}
    gated.payments.gate.set()
    response = await placing
    assert response.status_code == 201, response.text
    assert (await gated.order())["status"] == "Confirmed"
    assert gated.inventory.status == {"order_1": "committed"}


async def test_of_two_recoverers_only_one_works_on_an_order(shop: Shop) -> None:
    await a_paid_order_whose_commit_failed(shop)
    commits = shop.inventory.count("commit")

    first, second = await asyncio.gather(
        recovery.recover_pending(
            shop.store, shop.inventory_client, shop.app_payments, grace=EVERYTHING_IS_OLD, owner="a"
        ),
        recovery.recover_pending(
            shop.store, shop.inventory_client, shop.app_payments, grace=EVERYTHING_IS_OLD, owner="b"
        ),
    )

    assert len(first) + len(second) == 1
    assert shop.inventory.count("commit") == commits + 1
    assert (await shop.order())["status"] == "Confirmed"


async def test_a_saga_cut_by_shutdown_hands_its_order_over_with_the_key_still_bound(gated: Shop) -> None:
    """Scenario 1 in-process: the request task is cancelled (uvicorn's graceful timeout) mid-saga;
    the answer is 503 with the order id, and a retry with the key answers from that order."""
    key = Key.of(b"k", b"staff_1", "POST", "/api/orders", b"{}")
    placing = asyncio.create_task(
        services.place_order(
            gated.store,
            gated.inventory_client,
            gated.app_payments,
            customer_id="cust_001",
            lines=(OrderLine("123", 2),),
            payment_method="credit_card",
            payment_token="tok_visa",
            principal=Principal("staff_1", frozenset({"staff"})),
            key=key,
        )
    )
    await gated.payments.waiting.wait()
    placing.cancel()

    with pytest.raises(HandedOver) as cut:
        await placing
    assert cut.value.extra == {"order_id": "order_1"}
    assert await gated.store.keyed_order(key) == "order_1"
    gated.payments.gate.set()
    assert [o.status for o in await gated.recover()] == ["Failed"]  # its lease was handed over
    assert gated.inventory.stock == FULL_STOCK
