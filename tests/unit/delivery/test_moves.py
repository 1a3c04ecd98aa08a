"""PATCH /api/deliveries/{id}: a delivery's moves through its statuses, staff only; Shipped and
Delivered move the order in (fake) sales first, and nothing changes when sales says no or fails."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from delivery_service.domain import NEXT_STATUSES
from tests.helpers import ALICE, STAFF
from tests.unit.delivery.fake_sales import (
    TIMESTAMP,
    FakeSales,
    answering,
    create,
    failing,
    patch,
    read,
    running,
)

STATUSES = ["Pending", "Shipped", "In Transit", "Delivered", "Cancelled"]
# The moves that bring a new delivery to each status.
WAY_TO = {
    "Pending": [],
    "Shipped": ["Shipped"],
    "In Transit": ["Shipped", "In Transit"],
    "Delivered": ["Shipped", "In Transit", "Delivered"],
    "Cancelled": ["Cancelled"],
}
REFUSED = [(a, b) for a in STATUSES for b in STATUSES if b not in NEXT_STATUSES[a]]


async def moved_to(api: httpx.AsyncClient, status: str) -> dict[str, Any]:
    """A new delivery of order_1, moved to `status`."""
    created = await create(api)
    body = created
    for step in WAY_TO[status]:
        response = await patch(api, step)
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def statuses(delivery: dict[str, Any]) -> list[str]:
    return [change["status"] for change in delivery["history"]]


async def test_a_delivery_moves_pending_shipped_in_transit_delivered(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    await create(api)
    for step, expected_history in [
        ("Shipped", ["Pending", "Shipped"]),
        ("In Transit", ["Pending", "Shipped", "In Transit"]),
        ("Delivered", ["Pending", "Shipped", "In Transit", "Delivered"]),
    ]:
        response = await patch(api, step)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == step
        assert statuses(response.json()) == expected_history
        assert await read(api) == response.json()
    assert sales.orders["order_1"]["status"] == "Delivered"


async def test_every_move_appends_one_timestamped_entry_to_the_history(api: httpx.AsyncClient) -> None:
    delivered = await moved_to(api, "Delivered")

    times = [change["at"] for change in delivered["history"]]
    assert len(times) == 4
    assert all(TIMESTAMP.fullmatch(at) for at in times), times
    parsed = [datetime.fromisoformat(at) for at in times]
    assert parsed == sorted(parsed)


async def test_a_pending_delivery_is_cancelled_without_moving_the_order(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    await create(api)

    response = await patch(api, "Cancelled")

    assert response.status_code == 200
    assert (response.json()["status"], statuses(response.json())) == ("Cancelled", ["Pending", "Cancelled"])
    assert sales.moves == []
    assert sales.orders["order_1"]["status"] == "Confirmed"


async def test_only_shipped_and_delivered_ask_sales_with_the_orders_new_status(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    await create(api)
    await patch(api, "Shipped")
    assert sales.moves == [("order_1", {"status": "Shipped"})]
    await patch(api, "In Transit")
    assert sales.moves == [("order_1", {"status": "Shipped"})]
    await patch(api, "Delivered")
    assert sales.moves == [("order_1", {"status": "Shipped"}), ("order_1", {"status": "Delivered"})]


@pytest.mark.parametrize(("current", "to"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
async def test_a_move_the_rules_do_not_allow_is_409_and_changes_nothing(
    api: httpx.AsyncClient, sales: FakeSales, current: str, to: str
) -> None:
    before = await moved_to(api, current)
    asked = list(sales.moves)

    response = await patch(api, to)

    assert response.status_code == 409
    assert response.json()["error"] == f"Cannot change delivery status from {current} to {to}"
    assert await read(api) == before
    assert sales.moves == asked


@pytest.mark.parametrize(
    "body",
    [{"status": "Lost"}, {"status": "shipped"}, {"status": 1}, {"status": None}, {"status": ["Shipped"]}, {}],
    ids=["unknown", "lower-case", "number", "null", "list", "missing"],
)
async def test_a_status_that_is_not_a_delivery_status_is_400(
    api: httpx.AsyncClient, sales: FakeSales, body: dict[str, Any]
) -> None:
    before = await create(api)

    response = await api.patch("/api/deliveries/del_1", json=body)

    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request"
    assert response.json()["details"][0]["field"] == "status"
    assert await read(api) == before
    assert sales.moves == []


@pytest.mark.parametrize("content", ['{"status": "Shipped", "address": "elsewhere"}', "[]", "{", ""])
async def test_a_body_that_is_not_just_a_status_is_400(api: httpx.AsyncClient, content: str) -> None:
    before = await create(api)
    response = await api.patch(
        "/api/deliveries/del_1", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert await read(api) == before


async def test_moving_an_unknown_delivery_is_404(api: httpx.AsyncClient, sales: FakeSales) -> None:
    response = await patch(api, "Shipped", "del_9")
    assert response.status_code == 404
    assert response.json()["error"] == "Delivery not found"
    assert sales.moves == []


async def test_a_customer_may_not_move_even_its_own_delivery(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    before = await create(api, "order_4", **ALICE)

    response = await patch(api, "Cancelled", **ALICE)

    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert await read(api) == before


async def test_staff_moves_deliveries(api: httpx.AsyncClient) -> None:
    await create(api, "order_4", **ALICE)
    response = await patch(api, "Shipped", **STAFF)
    assert (response.status_code, response.json()["status"]) == (200, "Shipped")


# --- when sales says no, or cannot answer --------------------------------------------------------


async def test_an_order_cancelled_meanwhile_stops_the_shipment(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    before = await create(api)
    sales.orders["order_1"]["status"] = "Cancelled"

    refused = await patch(api, "Shipped")

    assert refused.status_code == 409
    assert refused.json()["error"] == "Order order_1 is Cancelled"
    assert await read(api) == before
    assert (await patch(api, "Cancelled")).status_code == 200  # the refusal holds nothing back


async def test_an_order_sales_no_longer_has_is_409(api: httpx.AsyncClient, sales: FakeSales) -> None:
    before = await create(api)
    del sales.orders["order_1"]

    refused = await patch(api, "Shipped")

    assert refused.status_code == 409
    assert refused.json()["error"] == "Order order_1 not found"
    assert await read(api) == before


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (httpx.ConnectError, 503, "The sales service is unavailable"),
        (httpx.ReadTimeout, 504, "The sales service did not answer in time"),
    ],
    ids=["down", "slow"],
)
@pytest.mark.parametrize(("current", "to"), [("Pending", "Shipped"), ("In Transit", "Delivered")])
async def test_sales_down_or_slow_changes_nothing(
    api: httpx.AsyncClient,
    sales: FakeSales,
    error: type[httpx.TransportError],
    status: int,
    message: str,
    current: str,
    to: str,
) -> None:
    before = await moved_to(api, current)
    sales.move_answer = failing(error)

    response = await patch(api, to)

    assert response.status_code == status
    assert response.json()["error"] == message
    if status == 503:
        assert response.headers["retry-after"].isdigit()
    assert await read(api) == before


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (500, b'{"error": "Internal server error"}'),
        (400, b'{"error": "Invalid request"}'),
        (200, b"<html>not json</html>"),
        (200, json.dumps({"order_id": "order_1", "status": "Confirmed"}).encode()),
        (409, b"<html>conflict</html>"),
    ],
    ids=["500", "400", "not-json", "not-an-order", "409-not-json"],
)
async def test_a_wrong_answer_from_sales_is_503_and_changes_nothing(
    api: httpx.AsyncClient, sales: FakeSales, status: int, content: bytes
) -> None:
    before = await create(api)
    sales.move_answer = answering(status, content)

    response = await patch(api, "Shipped")

    assert response.status_code == 503
    assert response.json()["error"] == "Sales service error"
    assert await read(api) == before


async def test_sales_saying_yes_to_another_status_is_not_a_yes(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    before = await create(api)
    confirmed = json.dumps({**sales.orders["order_1"], "status": "Confirmed"}).encode()
    sales.move_answer = answering(200, confirmed)

    response = await patch(api, "Shipped")

    assert response.status_code == 503
    assert await read(api) == before


async def test_after_a_lost_answer_only_the_same_move_may_run_until_sales_answers(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    before = await create(api)
    sales.move_answer = failing(httpx.ReadTimeout)
    assert (await patch(api, "Shipped")).status_code == 504

    contrary = await patch(api, "Cancelled")  # sales may have shipped the order: not now
    sales.move_answer = None
    retried = await patch(api, "Shipped")

    assert contrary.status_code == 409
    assert contrary.json()["error"] == "Delivery del_1 is being moved to Shipped; try again later"
    assert retried.status_code == 200
    assert statuses(retried.json()) == ["Pending", "Shipped"]
    assert before["history"][0] == retried.json()["history"][0]


async def test_a_claim_left_by_a_lost_answer_never_lapses_into_a_contrary_move(sales: FakeSales) -> None:
    # The claim is left to its own request for no time at all: every contrary move asks sales.
    async with running(sales, move_claim_seconds=0) as api:
        await create(api)
        sales.move_answer = failing(httpx.ReadTimeout)
        assert (await patch(api, "Shipped")).status_code == 504
        sales.move_answer = failing(httpx.ConnectError)

        while_away = await patch(api, "Cancelled")
        sales.move_answer = None
        once_back = await patch(api, "Cancelled")
        delivery = await read(api)

    assert while_away.status_code == 409
    assert while_away.json()["error"] == "Delivery del_1 is being moved to Shipped; try again later"
    # Sales took the pending move when asked again: the delivery follows, the cancel is refused.
    assert once_back.status_code == 409
    assert once_back.json()["error"] == "Cannot change delivery status from Shipped to Cancelled"
    assert statuses(delivery) == ["Pending", "Shipped"]
    assert sales.orders["order_1"]["status"] == "Shipped"


async def test_a_contrary_move_after_sales_refused_the_pending_one_goes_through(sales: FakeSales) -> None:
    async with running(sales, move_claim_seconds=0) as api:
        await create(api)
        sales.move_answer = failing(httpx.ReadTimeout)
        assert (await patch(api, "Shipped")).status_code == 504
        sales.move_answer = None
        sales.orders["order_1"]["status"] = "Cancelled"  # the customer cancelled meanwhile

        cancelled = await patch(api, "Cancelled")

    assert cancelled.status_code == 200, cancelled.text
    assert statuses(cancelled.json()) == ["Pending", "Cancelled"]


# --- concurrent moves ----------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["Shipped", "Cancelled"])
async def test_shipping_and_cancelling_at_once_have_exactly_one_winner(
    api: httpx.AsyncClient, sales: FakeSales, first: str
) -> None:
    await create(api)
    second = "Cancelled" if first == "Shipped" else "Shipped"

    responses = await asyncio.gather(patch(api, first), patch(api, second))

    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert await read(api) == winner
    assert statuses(winner) == ["Pending", winner["status"]]
    # Never a shipped order with a cancelled delivery, nor the reverse.
    order_status = sales.orders["order_1"]["status"]
    assert order_status == ("Shipped" if winner["status"] == "Shipped" else "Confirmed")


async def test_a_cancel_while_sales_is_shipping_the_order_is_409(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    await create(api)
    asked, gate = asyncio.Event(), asyncio.Event()

    async def slow_yes(request: httpx.Request) -> httpx.Response:
        asked.set()
        await gate.wait()
        return sales.apply_move("order_1", json.loads(request.content)["status"])

    sales.move_answer = slow_yes
    shipping = asyncio.create_task(patch(api, "Shipped"))
    await asked.wait()

    cancel = await patch(api, "Cancelled")
    gate.set()
    shipped = await shipping

    assert cancel.status_code == 409
    assert cancel.json()["error"] == "Delivery del_1 is being moved to Shipped; try again later"
    assert shipped.status_code == 200
    assert (await read(api))["status"] == sales.orders["order_1"]["status"] == "Shipped"


async def test_two_identical_moves_at_once_apply_once(api: httpx.AsyncClient, sales: FakeSales) -> None:
    await create(api)

    responses = await asyncio.gather(patch(api, "Shipped"), patch(api, "Shipped"))

    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"] == "Cannot change delivery status from Shipped to Shipped"
    assert statuses(await read(api)) == ["Pending", "Shipped"]
