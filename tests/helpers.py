"""What tests of several areas and layers share, written once: the contract's error envelope, the
principal headers the gateway sends, the development token, a metric's value, a closed loopback
port, a clock that moves only when told, binaries a test needs (a real redis-server), and a
client's view of the shop (an order's body, a book's stock, the units sold)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from devtools import redis_server
from devtools.launch import DEV_TOKEN
from devtools.system import AUTH as AUTH

ROOT = Path(__file__).resolve().parents[1]  # the repository

# The gateway's development token (GatewaySettings.dev_token), as `make run` and LocalSystem use it.
TOKEN = DEV_TOKEN

# What the gateway sends a service once it has resolved a token: the principal's subject and roles.
ADMIN = {"x-principal-subject": "admin_1", "x-principal-roles": "admin"}
STAFF = {"x-principal-subject": "staff_1", "x-principal-roles": "staff"}
CUSTOMER = {"x-principal-subject": "cust_001", "x-principal-roles": "customer"}
ALICE = {"x-principal-subject": "alice", "x-principal-roles": "customer"}
BOB = {"x-principal-subject": "bob", "x-principal-roles": "customer"}


def assert_envelope(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    """The contract's error shape (and `error`, when given), never FastAPI's `{"detail": ...}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "detail" not in body
    assert body["request_id"] == response.headers["x-request-id"]
    if error is not None:
        assert body["error"] == error
    return body


def sample(name: str, **labels: str) -> float:
    """A metric's value in this process's registry (0 for a series not written yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def closed_port() -> int:
    """A loopback port nobody listens at (bound for a moment, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def require_binary(name: str, package: str) -> str:
    """The path of `name`; missing, the test fails in CI (CI=true) and is skipped elsewhere, saying why."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class RedisServer(redis_server.RedisServer):
    """devtools' redis-server on a free loopback port, skipping (failing in CI) the test without one."""

    def __init__(self, directory: Path, *, durable: bool = False) -> None:
        super().__init__(directory, durable=durable, binary=require_binary("redis-server", "redis-server"))


# --- a client's view of the shop ------------------------------------------------------------------


def user_client(url: str, timeout: float = 30) -> httpx.AsyncClient:
    """A user's client of a running system's gateway at `url`, with the development token; room for
    bursts of up to 250 requests at once."""
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    return httpx.AsyncClient(base_url=url, headers=AUTH, timeout=timeout, limits=limits)


def order_body(book_id: str = "789", quantity: int = 1, token: str = "tok_visa") -> dict[str, Any]:
    return {
        "customer_id": "cust_001",
        "books": [{"book_id": book_id, "quantity": quantity}],
        "payment_method": "credit_card",
        "payment_token": token,
    }


async def stock(client: httpx.AsyncClient, book_id: str) -> int:
    response = await client.get(f"/api/books/{book_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


async def all_orders(client: httpx.AsyncClient, up_to: int = 1000) -> list[dict[str, Any]]:
    """Every stored order (at most `up_to`), read through the paged listing: a few requests, not one
    per order, so polling it stays far below the gateway's rate limit."""
    found: list[dict[str, Any]] = []
    url: str | None = f"/api/orders?limit={min(up_to, 1000)}"
    while url is not None and len(found) < up_to:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        found += response.json().values()
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return found


def sold(orders: list[dict[str, Any]], book_id: str) -> int:
    return sum(
        line["quantity"]
        for order in orders
        if order["status"] == "Confirmed"
        for line in order["books"]
        if line["book_id"] == book_id
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> bool:
    """Poll `check` until it holds or `within` seconds pass (waits for an event; asserts no speed)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return await check()
