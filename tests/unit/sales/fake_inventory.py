"""The sales service in-process with fakes around it: a fake inventory (MockTransport) with fault
switches, the simulated payment provider, and what the sales tests do with them (place, ship)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from sales_service import recovery
from sales_service.app import create_app
from sales_service.clients import InventoryClient
from sales_service.domain import Order
from sales_service.payments import PaymentProvider
from sales_service.settings import SalesSettings
from sales_service.store import DocSalesStore
from shared.http import Upstream
from shared.store import Tables
from tests.helpers import STAFF, assert_envelope, order_body

PRICES = {"123": Decimal("15.99"), "456": Decimal("12.99"), "789": Decimal("14.99")}
FULL_STOCK = {"123": 50, "456": 30, "789": 25}
HOLDS = "/internal/holds"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ORDER = order_body("123", 2)
# A negative grace: every Pending order counts as interrupted, even one made this very second.
EVERYTHING_IS_OLD = timedelta(seconds=-1)


@dataclass
class Fault:
    error: type[httpx.TransportError]
    times: int | None  # None: every time
    landed: bool  # the operation took effect and only its answer was lost


class FakeInventory:
    """Inventory's internal hold API (as inventory_service/routes.py) on an httpx.MockTransport.

    Holds are all-or-nothing and idempotent per order id; commit and release settle a hold once,
    one way. Switches simulate faults: an operation that raises, a hold that expired.
    """

    def __init__(self) -> None:
        self.stock = dict(FULL_STOCK)
        self.prices = dict(PRICES)
        self.ignore_max_total = False  # as an inventory older than the hold's max_total
        self.holds: dict[str, dict[str, int]] = {}
        self.status: dict[str, str] = {}  # order id -> held | committed | released
        self.calls: list[tuple[str, str]] = []  # (operation, order id), the failed ones too
        self.faults: dict[str, Fault] = {}
        self.expire_before_commit = False
        self.hold_answer: httpx.Response | None = None  # a wrong answer to every hold, when set

    def fail(
        self,
        *operations: str,
        error: type[httpx.TransportError] = httpx.ConnectError,
        times: int | None = None,
        landed: bool = False,
    ) -> None:
        """`operations` (default: every hold operation; "health" too when named) raise `error`, every
        time or the next `times` times."""
        for operation in operations or ("hold", "commit", "release", "return"):
            self.faults[operation] = Fault(error, times, landed)

    def heal(self) -> None:
        self.faults.clear()

    def expire(self, order_id: str) -> None:
        """The hold's TTL ran out: inventory released it on its own."""
        if self.status.get(order_id) == "held":
            self._give_back(order_id)

    def count(self, operation: str) -> int:
        return sum(op == operation for op, _ in self.calls)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a real call suspends here
        path = request.url.path
        if path == "/healthz":
            if health_fault := self._take_fault("health"):
                raise health_fault.error("injected fault", request=request)
            return httpx.Response(200, json={"status": "ok"})
        if request.method != "POST" or not path.startswith(HOLDS):
            return _error(404, "Not found")
        if path == HOLDS:
            body = json.loads(request.content)
            operation, order_id = "hold", body["order_id"]
        else:
            order_id, _, operation = path.removeprefix(f"{HOLDS}/").rpartition("/")
        self.calls.append((operation, order_id))
        fault = self._take_fault(operation)
        if fault and not fault.landed:
            raise fault.error("injected fault", request=request)
        if operation == "hold":
            response = self.hold_answer or self._hold(order_id, body["lines"], body.get("max_total"))
        elif operation == "commit":
            if self.expire_before_commit:
                self.expire(order_id)
            response = self._settle(order_id, "committed")
        elif operation == "return":
            response = self._return(order_id)
        else:
            response = self._settle(order_id, "released")
        if fault:
            raise fault.error("answer lost", request=request)
        return response

    def _take_fault(self, operation: str) -> Fault | None:
        fault = self.faults.get(operation)
        if fault and fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                del self.faults[operation]
        return fault

    def _hold(self, order_id: str, lines: list[dict[str, Any]], max_total: str | None) -> httpx.Response:
        wanted = {line["book_id"]: line["quantity"] for line in lines}
        if len(wanted) != len(lines):
            return _error(
                400, "Invalid request", [{"field": "lines", "message": "each book may appear once"}]
            )
        if order_id in self.holds:
            if self.holds[order_id] != wanted:
                return _error(409, f"Order {order_id} already holds other lines")
            return httpx.Response(200, json=self._hold_doc(order_id))
        short = [
            {"book_id": book_id, "requested": quantity, "available": self.stock.get(book_id, 0)}
            for book_id, quantity in wanted.items()
            if self.stock.get(book_id, 0) < quantity
        ]
        if short:
            return _error(409, f"Book {short[0]['book_id']} not available or insufficient stock", short)
        total = sum(self.prices[book_id] * quantity for book_id, quantity in wanted.items())
        if max_total is not None and not self.ignore_max_total and total > Decimal(max_total):
            return _error(400, "Total too large", [{"field": "total", "message": "over", "max": max_total}])
        for book_id, quantity in wanted.items():
            self.stock[book_id] -= quantity
        self.holds[order_id], self.status[order_id] = wanted, "held"
        return httpx.Response(201, json=self._hold_doc(order_id))

    def _settle(self, order_id: str, target: str) -> httpx.Response:
        status = self.status.get(order_id)
        if status is None:
            return _error(404, "Hold not found")
        if status not in ("held", target):
            return _error(409, f"Hold for {order_id} is already {status}")
        if status == "held" and target == "released":
            self._give_back(order_id)
        self.status[order_id] = target
        return httpx.Response(200, json=self._hold_doc(order_id))

    def _return(self, order_id: str) -> httpx.Response:
        status = self.status.get(order_id)
        if status is None:
            return _error(404, "Hold not found")
        if status not in ("committed", "returned"):
            return _error(409, f"Hold for {order_id} is {status}")
        if status == "committed":
            self._give_back(order_id)
            self.status[order_id] = "returned"
        return httpx.Response(200, json=self._hold_doc(order_id))

    def _give_back(self, order_id: str) -> None:
        for book_id, quantity in self.holds[order_id].items():
            self.stock[book_id] += quantity
        self.status[order_id] = "released"

    def _hold_doc(self, order_id: str) -> dict[str, Any]:
        lines = [
            {"book_id": book_id, "quantity": quantity, "unit_price": str(self.prices[book_id])}
            for book_id, quantity in self.holds[order_id].items()
        ]
        status = self.status[order_id]
        return {"order_id": order_id, "status": status, "lines": lines, "expires_at": "2026-11-26T12:05:00Z"}


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return httpx.Response(status, json=body)


@dataclass
class Shop:
    """The sales app with its fakes around it, and the inventory client recovery works through."""

    api: httpx.AsyncClient
    inventory: FakeInventory
    payments: Any  # the provider the test gave, to look into
    store: DocSalesStore
    inventory_client: InventoryClient
    app_payments: PaymentProvider  # the same provider as the app calls it: through the time limit

    async def recover(self, grace: timedelta = EVERYTHING_IS_OLD) -> list[Order]:
        return await recovery.recover_pending(self.store, self.inventory_client, self.app_payments, grace)

    async def order(self, order_id: str = "order_1") -> dict[str, Any]:
        response = await self.api.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def place(self, **fields: Any) -> httpx.Response:
        return await self.api.post("/api/orders", json={**ORDER, **fields})


def to_inventory(inventory: FakeInventory) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(inventory), base_url="http://inventory")


@asynccontextmanager
async def running_shop(payments: PaymentProvider, **settings: Any) -> AsyncIterator[Shop]:
    """The sales app in-process with a fake inventory, the given provider and settings."""
    inventory, store = FakeInventory(), DocSalesStore(Tables())
    app_settings = SalesSettings(store="memory", recovery_interval_seconds=3600, **settings)
    app = create_app(app_settings, store=store, inventory=to_inventory(inventory), payments=payments)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://sales",
            headers=STAFF,
        ) as api,
        to_inventory(inventory) as for_recovery,
    ):
        client = InventoryClient(Upstream("inventory", for_recovery))
        yield Shop(api, inventory, payments, store, client, app.state.payments)


async def assert_no_order(shop: Shop, order_id: str = "order_1") -> None:
    body = assert_envelope(await shop.api.get(f"/api/orders/{order_id}"), 404)
    assert body["error"] == "Order not found"


def for_(customer: str, book: str = "123", quantity: int = 1) -> dict[str, Any]:
    return {**ORDER, "customer_id": customer, "books": [{"book_id": book, "quantity": quantity}]}


async def place(shop: Shop, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await shop.api.post("/api/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


async def ship(shop: Shop, order_id: str, status: str = "Shipped") -> httpx.Response:
    return await shop.api.post(f"/internal/orders/{order_id}/status", json={"status": status})
