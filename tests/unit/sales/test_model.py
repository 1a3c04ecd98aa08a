"""A model-based test of the selling saga (issue 14): hypothesis interleaves placing, retrying with a
key, a payment provider that holds charges back, inventory refusing commits, cancel, ship,
recovery and restarts of sales (in-flight sagas cut, the JSON store reopened), and checks after
every step that each key answers for one order only and every acknowledged order reads back
placed; once everything has settled, that stock + units in live orders = starting stock and that
money is held exactly for paid orders, one charge per order."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Coroutine
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sales_service import recovery, services
from sales_service.clients import InventoryClient
from sales_service.domain import Order, OrderLine
from sales_service.payments import Charge, SimulatedPayments
from sales_service.store import DocSalesStore
from shared.errors import AppError
from shared.http import Upstream
from shared.idempotency import Key
from shared.principal import Principal
from shared.store import Tables
from tests.unit.sales.fake_inventory import FULL_STOCK, FakeInventory, to_inventory

STAFF = Principal("staff_1", frozenset({"staff"}))
LIVE = ("Pending", "Confirmed", "Shipped", "Delivered")
PAID = ("Paid",)
EVERYTHING_IS_OLD = timedelta(seconds=-1)


class GatedPayments(SimulatedPayments):
    """Charges wait while the gate is closed: sagas caught between the hold and the charge."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def charge(self, order_id: str, amount: Decimal, method: str, token: str | None) -> Charge:
        await self.gate.wait()
        return await super().charge(order_id, amount, method, token)


class Shop(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="sales-model-"))
        self.inventory = FakeInventory()
        self.payments = GatedPayments()
        self.http = to_inventory(self.inventory)
        self.client = InventoryClient(Upstream("inventory", self.http))
        self.store = DocSalesStore(Tables.open(self.dir))
        self.tasks: dict[asyncio.Task[Any], str | None] = {}
        self.answered: dict[str, set[str]] = {}  # key -> order ids answered for it
        self.acknowledged: set[str] = set()

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(work)

    def settle_a_little(self) -> None:
        self.run(asyncio.sleep(0.001))
        for task in [t for t in self.tasks if t.done()]:
            self.collect(task)

    def collect(self, task: asyncio.Task[Any]) -> None:
        key = self.tasks.pop(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            order, _ = task.result()
            self.acknowledged.add(order.order_id)
            if key is not None:
                self.answered.setdefault(key, set()).add(order.order_id)
            return
        assert isinstance(error, AppError), repr(error)  # never a 500
        order_id = error.extra.get("order_id")
        if key is not None and order_id is not None:
            self.answered.setdefault(key, set()).add(order_id)

    @rule(
        key=st.sampled_from([None, "a", "b", "c"]),
        book=st.sampled_from(["123", "456"]),
        lease=st.sampled_from([0.0, 3600.0]),  # 0: a saga past its time, recovery may take over
    )
    def place(self, key: str | None, book: str, lease: float) -> None:
        the_key = (
            None if key is None else Key.of(key.encode(), b"staff_1", "POST", "/api/orders", book.encode())
        )
        work = services.place_order(
            self.store,
            self.client,
            self.payments,
            customer_id="cust_001",
            lines=(OrderLine(book, 2),),
            payment_method="credit_card",
            payment_token="tok_visa",
            principal=STAFF,
            key=the_key,
            lease_seconds=lease,
        )
        self.tasks[self.loop.create_task(work)] = None if key is None else f"{key}:{book}"
        self.settle_a_little()

    @rule()
    def hold_charges_back(self) -> None:
        self.payments.gate.clear()

    @rule()
    def let_charges_through(self) -> None:
        self.payments.gate.set()
        self.settle_a_little()

    @rule(failing=st.booleans())
    def inventory_commits(self, failing: bool) -> None:
        if failing:
            self.inventory.fail("commit")
        else:
            self.inventory.heal()

    @rule()
    def recover(self) -> None:
        self.run(recovery.recover_pending(self.store, self.client, self.payments, EVERYTHING_IS_OLD))
        self.settle_a_little()

    @rule(data=st.data())
    def cancel_or_ship(self, data: st.DataObject) -> None:
        if not self.acknowledged:
            return
        order_id = data.draw(st.sampled_from(sorted(self.acknowledged)))
        if data.draw(st.booleans()):
            work = services.cancel_order(self.store, self.client, self.payments, order_id, STAFF)
        else:
            work = services.move_for_delivery(self.store, order_id, "Shipped")
        with contextlib.suppress(AppError):  # 409 (not confirmed any more), 503 (recovery finishes it)
            self.run(work)

    @rule()
    def restart(self) -> None:
        """Sales stops: sagas in flight are cut, the store is closed and opened again."""
        for task in self.tasks:
            task.cancel()
        self.run(_all_done(list(self.tasks)))
        for task in list(self.tasks):
            self.collect(task)
        self.run(self.store.close())
        self.store = DocSalesStore(Tables.open(self.dir))
        self.client = InventoryClient(Upstream("inventory", self.http))  # its breakers start closed

    @invariant()
    def one_order_per_key(self) -> None:
        for key, order_ids in self.answered.items():
            assert len(order_ids) == 1, (key, order_ids)

    @invariant()
    def every_acknowledged_order_reads_back_placed(self) -> None:
        for order_id in self.acknowledged:
            order = self.run(self.store.get_order(order_id))
            assert order is not None and order.status not in ("Pending", "Failed"), order

    def teardown(self) -> None:
        try:
            self.settle_everything()
        finally:
            self.run(self.store.close())
            self.run(self.http.aclose())
            self.loop.close()

    def settle_everything(self) -> None:
        self.payments.gate.set()
        self.inventory.heal()
        self.run(_all_done(list(self.tasks)))
        for task in list(self.tasks):
            self.collect(task)
        self.client = InventoryClient(Upstream("inventory", self.http))  # breakers closed: inventory is back
        self.run(recovery.recover_pending(self.store, self.client, self.payments, EVERYTHING_IS_OLD))
        orders = self.all_orders()
        assert all(o.status != "Pending" for o in orders), orders
        for held in [o for o, status in self.inventory.status.items() if status == "held"]:
            self.inventory.expire(held)  # an orphan hold of a deleted order: its TTL returns it
        for book, start in FULL_STOCK.items():
            sold = sum(
                ln.quantity for o in orders if o.status in LIVE for ln in o.lines if ln.book_id == book
            )
            assert self.inventory.stock[book] + sold == start, (book, orders)
        for order in orders:
            charged = self.payments.charges.get(order.order_id)
            has_money = (
                charged is not None and charged.approved and order.order_id not in self.payments.refunds
            )
            paid = order.payment_status in PAID and order.status in (*LIVE, "Cancelled")
            assert has_money == paid, (order, charged)
        assert set(self.payments.charges) <= {o.order_id for o in orders}  # no charge without an order

    def all_orders(self) -> list[Order]:
        return list(
            self.run(self.store.list_orders(customer_id=None, status=None, after=None, limit=1000)).items
        )


async def _all_done(tasks: list[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


Shop.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_saga_under_any_interleaving = Shop.TestCase
