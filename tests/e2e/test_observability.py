"""Observability of a real system: each process's /metrics moves by exactly what a scripted set of
requests did, one request id is in the log lines of every process an order touched, and spans of
one trace reach an OTLP collector from the gateway, sales and inventory; /readyz names what is down."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from devtools.system import LocalSystem
from tests.e2e.observe import FakeCollector, Samples, delta, scrape, value
from tests.helpers import RedisServer, order_body, user_client

PROCESSES = ("gateway", "inventory", "sales", "delivery")


def scrape_all(system: LocalSystem) -> dict[str, Samples]:
    return {name: scrape(system.specs[name].url) for name in PROCESSES}


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(samples, "http_requests_total", route=route, method=method, status=str(status))


async def test_metrics_move_by_exactly_what_the_requests_did(
    system: LocalSystem, client: httpx.AsyncClient
) -> None:
    before = scrape_all(system)

    for _ in range(3):
        assert (await client.get("/api/books/123")).status_code == 200
    assert (await client.get("/api/books/nope")).status_code == 404
    first = await client.post("/api/orders", json=order_body("123", 1))
    second = await client.post("/api/orders", json=order_body("456", 2))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert (await client.post("/api/orders", json=order_body("789", 1, "tok_declined"))).status_code == 402
    assert (await client.post(f"/api/orders/{first.json()['order_id']}/cancel")).status_code == 200
    delivery = {"order_id": second.json()["order_id"], "address": "1 Main St, City"}
    assert (await client.post("/api/deliveries", json=delivery)).status_code == 201

    after = scrape_all(system)

    def moved(process: str, name: str, **labels: str) -> float:
        return delta(before[process], after[process], name, **labels)

    def served(process: str, route: str, method: str, status: int) -> float:
        return requests(after[process], route, method, status) - requests(
            before[process], route, method, status
        )

    # The gateway: by route template, never by raw path; and its calls to each service.
    assert served("gateway", "/api/books/{id}", "GET", 200) == 3
    assert served("gateway", "/api/books/{id}", "GET", 404) == 1
    assert served("gateway", "/api/orders", "POST", 201) == 2
    assert served("gateway", "/api/orders", "POST", 402) == 1
    assert served("gateway", "/api/orders/{id}/cancel", "POST", 200) == 1
    assert served("gateway", "/api/deliveries", "POST", 201) == 1
    gateway_count = moved(
        "gateway", "http_request_duration_seconds_count", route="/api/books/{id}", method="GET"
    )
    assert gateway_count == 4
    assert not any(
        name == "http_requests_total" and "nope" in dict(labels).get("route", "")
        for name, labels in after["gateway"]
    )
    assert moved("gateway", "upstream_requests_total", upstream="inventory", outcome="2xx") == 3
    assert moved("gateway", "upstream_requests_total", upstream="inventory", outcome="4xx") == 1
    assert moved("gateway", "upstream_requests_total", upstream="sales", outcome="2xx") == 3
    assert moved("gateway", "upstream_requests_total", upstream="sales", outcome="4xx") == 1
    assert moved("gateway", "upstream_requests_total", upstream="delivery", outcome="2xx") == 1
    assert moved("gateway", "upstream_request_duration_seconds_count", upstream="sales") == 4

    # Inventory: the public reads, and the saga's holds, commits, release and return.
    assert served("inventory", "/api/books/{book_id}", "GET", 200) == 3
    assert served("inventory", "/api/books/{book_id}", "GET", 404) == 1
    assert served("inventory", "/internal/holds", "POST", 201) == 3
    assert served("inventory", "/internal/holds/{order_id}/commit", "POST", 200) == 2
    assert served("inventory", "/internal/holds/{order_id}/release", "POST", 200) == 1
    assert served("inventory", "/internal/holds/{order_id}/return", "POST", 200) == 1
    assert moved("inventory", "inventory_units_total", event="held") == 1 + 2 + 1
    assert moved("inventory", "inventory_units_total", event="committed") == 1 + 2
    assert moved("inventory", "inventory_units_total", event="released") == 1
    assert moved("inventory", "inventory_units_total", event="returned") == 1
    assert moved("inventory", "inventory_units_total", event="expired") == 0
    assert (
        moved("inventory", "store_operation_duration_seconds_count", operation="decide", backend="json") > 0
    )

    # Sales: how the orders ended, what the provider answered, and its calls to inventory.
    assert served("sales", "/api/orders", "POST", 201) == 2
    assert served("sales", "/api/orders", "POST", 402) == 1
    assert served("sales", "/api/orders/{order_id}/cancel", "POST", 200) == 1
    assert served("sales", "/internal/orders/{order_id}", "GET", 200) == 1
    for outcome, count in {"confirmed": 2, "declined": 1, "cancelled": 1, "failed": 0, "rejected": 0}.items():
        assert moved("sales", "orders_total", outcome=outcome) == count, outcome
    assert moved("sales", "payments_total", operation="charge", outcome="approved") == 2
    assert moved("sales", "payments_total", operation="charge", outcome="declined") == 1
    assert moved("sales", "payments_total", operation="refund", outcome="refunded") == 1
    assert moved("sales", "upstream_requests_total", upstream="inventory", outcome="2xx") == 3 + 2 + 1 + 1
    assert moved("sales", "upstream_request_duration_seconds_count", upstream="inventory") == 7

    # Delivery: the one delivery and its check of the order with sales.
    assert served("delivery", "/api/deliveries", "POST", 201) == 1
    assert moved("delivery", "upstream_requests_total", upstream="sales", outcome="2xx") == 1

    # Every breaker is there, and closed.
    inventory_url = system.specs["inventory"].url
    for process, upstream, url in (
        ("sales", "inventory", inventory_url),
        ("gateway", "inventory", inventory_url),
    ):
        assert ("circuit_breaker_state", frozenset({("upstream", upstream), ("instance", url)})) in after[
            process
        ]
        assert value(after[process], "circuit_breaker_state", upstream=upstream, instance=url) == 0


def _lines(system: LocalSystem, name: str, request_id: str) -> list[dict[str, Any]]:
    found = []
    for line in system.log(name).splitlines():
        if request_id in line:
            entry = json.loads(line)
            assert entry["request_id"] == request_id
            found.append(entry)
    return found


async def test_one_request_id_is_in_the_log_lines_of_every_process_an_order_touches(
    system: LocalSystem, client: httpx.AsyncClient
) -> None:
    request_id = f"obs-{uuid.uuid4().hex}"
    response = await client.post(
        "/api/orders", json=order_body("123", 1), headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id

    deadline = time.monotonic() + 10
    while True:  # each access line is written just after its answer: give the last one a moment
        lines = {name: _lines(system, name, request_id) for name in ("gateway", "sales", "inventory")}
        if all(any(e.get("logger") == "access" for e in found) for found in lines.values()):
            break
        assert time.monotonic() < deadline, lines
        await asyncio.sleep(0.1)

    access = {name: [e for e in found if e["logger"] == "access"] for name, found in lines.items()}
    for name, entries in access.items():
        for entry in entries:
            assert entry["service"] == name or entry["service"].startswith(name)
            for field in ("time", "level", "subject", "method", "route", "status", "duration_ms", "trace_id"):
                assert field in entry, (name, field, entry)
    assert {e["route"] for e in access["gateway"]} == {"/api/orders"}
    assert {e["route"] for e in access["sales"]} == {"/api/orders"}
    assert {e["route"] for e in access["inventory"]} == {
        "/internal/holds",
        "/internal/holds/{order_id}/commit",
    }
    assert access["gateway"][0]["subject"] == access["sales"][0]["subject"] == "dev"
    trace_ids = {e["trace_id"] for found in access.values() for e in found}
    assert len(trace_ids) == 1  # one trace, carried by traceparent through every hop


async def test_a_failed_request_logs_its_error(system: LocalSystem, client: httpx.AsyncClient) -> None:
    request_id = f"obs-{uuid.uuid4().hex}"
    response = await client.get("/api/books/nope", headers={"X-Request-ID": request_id})
    assert response.status_code == 404
    deadline = time.monotonic() + 10
    while not (found := [e for e in _lines(system, "inventory", request_id) if e["logger"] == "access"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert found[0]["error"] == "Book not found"
    assert found[0]["route"] == "/api/books/{book_id}"


async def test_a_trace_is_exported_from_every_hop_when_an_otlp_endpoint_is_set(tmp_path: Path) -> None:
    with FakeCollector() as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        system = LocalSystem(tmp_path, env=env)
        try:
            system.start()
            traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
            async with user_client(system.url) as client:
                response = await client.post(
                    "/api/orders", json=order_body("123", 1), headers={"traceparent": traceparent}
                )
            assert response.status_code == 201, response.text
            trace_id = traceparent.split("-")[1]
            deadline = time.monotonic() + 30
            while {s for s, t, _ in collector.spans if t == trace_id} < {"gateway", "sales", "inventory"}:
                assert time.monotonic() < deadline, collector.spans
                await asyncio.sleep(0.2)
        finally:
            system.close()
    names = {(service, name) for service, t, name in collector.spans if t == trace_id}
    assert ("gateway", "POST /api/orders") in names
    assert ("sales", "POST /api/orders") in names
    assert ("inventory", "POST /internal/holds") in names


async def _readiness(url: str) -> tuple[int, set[str]]:
    async with httpx.AsyncClient(timeout=10) as plain:
        response = await plain.get(url + "/readyz")
    missing = (
        {d["component"] for d in response.json().get("details", [])} if response.status_code != 200 else set()
    )
    return response.status_code, missing


async def test_readyz_is_503_naming_what_is_missing_while_the_store_or_an_upstream_is_down(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.directory.mkdir()
    redis.start()
    # The gateway asks again on every call (it remembers its answer a second by default).
    system = LocalSystem(tmp_path, {"GATEWAY_PUBLIC_CACHE_SECONDS": "0"}, store="redis", redis_url=redis.url)
    try:
        system.start()
        for name in PROCESSES:
            assert await _readiness(system.specs[name].url) == (200, set())

        redis.stop()
        for name in ("inventory", "sales", "delivery"):
            assert await _readiness(system.specs[name].url) == (503, {"store"}), name

        redis.start()
        deadline = time.monotonic() + 20
        while (await _readiness(system.specs["sales"].url))[0] != 200:  # reconnects by itself
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)

        system.stop("inventory")
        assert await _readiness(system.specs["sales"].url) == (503, {"inventory"})
        assert await _readiness(system.url) == (503, {"inventory"})
        assert await _readiness(system.specs["delivery"].url) == (200, set())
    finally:
        system.close()
        redis.stop()
