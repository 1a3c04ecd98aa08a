"""Recovery of interrupted sagas: a paid order confirmed or refunded, an unpaid one failed with its
units released, nothing touched while inventory is down or the order is younger than the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sales_service.domain import Order, OrderLine
from tests.unit.sales.fake_inventory import FULL_STOCK, Shop

# --- recovery of interrupted sagas --------------------------------------------------------------


async def an_interrupted_order(shop: Shop, *, charged: bool = False) -> Order:
    """What a crash after the hold (and, if `charged`, after the charge) leaves: an unpaid Pending order."""
    lines = (OrderLine("123", 2),)
    order = await shop.store.add_order(Order("", "cust_001", lines, "credit_card", datetime.now(UTC)))
    prices = await shop.inventory_client.hold(order.order_id, order.wanted())
    order = order.priced(prices)
    await shop.store.save_order(order)
    if charged:
        await shop.payments.charge(order.order_id, order.total_amount, "credit_card", "tok_visa")
    return order


async def test_recovery_confirms_a_paid_order_whose_commit_did_not_get_through(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503
    shop.inventory.heal()

    recovered = await shop.recover()

    assert [(o.order_id, o.status, o.payment_status) for o in recovered] == [("order_1", "Confirmed", "Paid")]
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Confirmed", "Paid")
    assert shop.inventory.status == {"order_1": "committed"}
    assert shop.payments.refunds == set()
    assert await shop.store.pending_orders() == []


async def test_recovery_refunds_a_paid_order_whose_hold_expired_meanwhile(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503
    shop.inventory.heal()
    shop.inventory.expire("order_1")

    recovered = await shop.recover()

    assert [(o.status, o.payment_status) for o in recovered] == [("Failed", "Refunded")]
    order = await shop.order()
    assert (order["status"], order["payment_status"]) == ("Failed", "Refunded")
    assert shop.payments.refunds == {"order_1"}
    assert shop.inventory.stock == FULL_STOCK


async def test_recovery_fails_an_unpaid_pending_order_and_releases_its_units(shop: Shop) -> None:
    await an_interrupted_order(shop)

    recovered = await shop.recover()

    assert [(o.order_id, o.status) for o in recovered] == [("order_1", "Failed")]
    assert (await shop.order())["status"] == "Failed"
    assert shop.inventory.status == {"order_1": "released"}
    assert shop.inventory.stock == FULL_STOCK
    assert shop.payments.refunds == set()
    assert await shop.store.pending_orders() == []


async def test_recovery_refunds_a_charge_the_crash_hid_from_an_unpaid_order(shop: Shop) -> None:
    await an_interrupted_order(shop, charged=True)

    await shop.recover()

    assert (await shop.order())["status"] == "Failed"
    assert shop.payments.refunds == {"order_1"}
    assert shop.inventory.stock == FULL_STOCK


async def test_recovery_leaves_orders_pending_while_inventory_is_down(shop: Shop) -> None:
    shop.inventory.fail("commit")
    assert (await shop.place()).status_code == 503  # order_1: paid, not committed
    await an_interrupted_order(shop)  # order_2: not paid
    shop.inventory.fail()

    recovered = await shop.recover()

    assert recovered == []
    assert [(await shop.order(o))["status"] for o in ("order_1", "order_2")] == ["Pending", "Pending"]
    assert sorted(o.order_id for o in await shop.store.pending_orders()) == ["order_1", "order_2"]
    assert shop.inventory.status == {"order_1": "held", "order_2": "held"}
    assert shop.payments.refunds == set()

    shop.inventory.heal()
    assert [o.status for o in await shop.recover()] == ["Confirmed", "Failed"]


async def test_recovery_leaves_an_order_younger_than_the_grace_alone(shop: Shop) -> None:
    await an_interrupted_order(shop)
    calls = list(shop.inventory.calls)

    recovered = await shop.recover(grace=timedelta(minutes=5))

    assert recovered == []
    assert (await shop.order())["status"] == "Pending"
    assert shop.inventory.calls == calls
    assert shop.inventory.status == {"order_1": "held"}
