"""A fake sales service on MockTransport, the delivery app in-process in front of it, and what the
delivery tests send it (create, move, read a delivery)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import httpx

from delivery_service.app import create_app
from delivery_service.settings import DeliverySettings
from delivery_service.store import DeliveryStore
from tests.helpers import ADMIN

ADDRESS = "123 Main St, City, State 12345"
ORDERED_AT = "2026-11-27T05:30:00Z"  # a Friday
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ORDERS_PATH = "/internal/orders/"

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]

# What sales' POST /internal/orders/{id}/status accepts: the status an order moves to, from where.
_ORDER_MOVES_FROM = {"Shipped": "Confirmed", "Delivered": "Shipped"}


def an_order(
    order_id: str, status: str = "Confirmed", created_at: str = ORDERED_AT, customer_id: str = "cust_001"
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "books": [{"book_id": "123", "quantity": 2, "unit_price": 15.99}],
        "total_amount": 31.98,
        "status": status,
        "payment_status": "Paid" if status == "Confirmed" else "Declined",
        "created_at": created_at,
    }


class FakeSales:
    """Sales' internal order API on an httpx.MockTransport, with its rules for delivery's moves
    (Confirmed → Shipped → Delivered, repeats harmless, else 409). Remembers what it was asked;
    `move_answer`, when set, answers every move instead (a fault, a refusal)."""

    def __init__(self, *orders: dict[str, Any]) -> None:
        self.orders = {order["order_id"]: order for order in orders}
        self.asked: list[str] = []  # raw paths of order reads
        self.moves: list[tuple[str, Any]] = []  # (order id, JSON body) of every move asked
        self.move_answer: Handler | None = None
        self.cancelled_asked: list[list[str]] = []  # order ids of every "which are cancelled?"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a real call suspends here: lets concurrent requests interleave
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        raw_path = request.url.raw_path.decode()
        if request.url.path == f"{ORDERS_PATH}cancelled":
            return self._cancelled(request)
        if request.method == "POST" and raw_path.startswith(ORDERS_PATH) and raw_path.endswith("/status"):
            return await self._move(request, unquote(raw_path[len(ORDERS_PATH) : -len("/status")]))
        self.asked.append(raw_path)
        order = self.orders.get(unquote(raw_path.removeprefix(ORDERS_PATH)))
        if request.method != "GET" or not raw_path.startswith(ORDERS_PATH) or order is None:
            return httpx.Response(404, json={"error": "Order not found"})
        return httpx.Response(200, json=order)

    def _cancelled(self, request: httpx.Request) -> httpx.Response:
        named = request.url.params.get_list("order_id")
        self.cancelled_asked.append(named)
        cancelled = [i for i in named if self.orders.get(i, {}).get("status") == "Cancelled"]
        return httpx.Response(200, json={"order_ids": cancelled})

    async def _move(self, request: httpx.Request, order_id: str) -> httpx.Response:
        body = json.loads(request.content)
        self.moves.append((order_id, body))
        if self.move_answer is not None:
            return await self.move_answer(request)
        return self.apply_move(order_id, body["status"])

    def apply_move(self, order_id: str, status: str) -> httpx.Response:
        """Sales' own answer to a move, as its rules give it."""
        order = self.orders.get(order_id)
        if order is None:
            return httpx.Response(404, json={"error": "Order not found"})
        if order["status"] != status:
            if order["status"] != _ORDER_MOVES_FROM[status]:
                return httpx.Response(409, json={"error": f"Order {order_id} is {order['status']}"})
            order["status"] = status
        return httpx.Response(200, json=order)


def answering(status: int, content: bytes) -> Handler:
    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return handle


def failing(error: type[httpx.TransportError]) -> Handler:
    async def handle(request: httpx.Request) -> httpx.Response:
        raise error("no answer", request=request)

    return handle


@asynccontextmanager
async def running(
    sales: Handler,
    *,
    delivery_store: DeliveryStore | None = None,
    headers: dict[str, str] | None = None,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The delivery app (memory store unless `settings` or `delivery_store` say otherwise) and a client
    that calls it as `headers` (default: an admin)."""
    sales_client = httpx.AsyncClient(transport=httpx.MockTransport(sales), base_url="http://sales")
    app = create_app(
        DeliverySettings(**{"store": "memory", **settings}), store=delivery_store, sales=sales_client
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://delivery",
            headers=ADMIN if headers is None else headers,
        ) as client,
    ):
        yield client


async def post(api: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return await api.post(
        "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS, **body}, headers=headers
    )


async def create(api: httpx.AsyncClient, order_id: str = "order_1", **headers: str) -> dict[str, Any]:
    response = await post(api, headers=headers or None, order_id=order_id)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def patch(
    api: httpx.AsyncClient, status: Any, delivery_id: str = "del_1", **headers: str
) -> httpx.Response:
    return await api.patch(f"/api/deliveries/{delivery_id}", json={"status": status}, headers=headers or None)


async def read(api: httpx.AsyncClient, delivery_id: str = "del_1") -> dict[str, Any]:
    response = await api.get(f"/api/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
