"""Scheduling and reading deliveries through HTTP, in-process: a memory store and a fake sales
service; who may create and read which delivery; Idempotency-Key on creation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.delivery_shop import (
    ADDRESS,
    ALICE,
    BOB,
    STAFF,
    TIMESTAMP,
    FakeSales,
    an_order,
    answering,
    api,
    create,
    failing,
    post,
    running,
    sales,
)

__all__ = ["api", "sales"]  # fixtures


async def test_a_delivery_is_created_pending_and_reads_back_the_same(api: httpx.AsyncClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    created = await post(api, estimated_date="2026-12-03")
    after = datetime.now(UTC)

    assert created.status_code == 201
    body = created.json()
    at = body["history"][0].pop("at")
    assert body == {
        "delivery_id": "del_1",
        "order_id": "order_1",
        "address": ADDRESS,
        "status": "Pending",
        "estimated_date": "2026-12-03",
        "history": [{"status": "Pending"}],
    }
    assert TIMESTAMP.fullmatch(at)
    assert before <= datetime.fromisoformat(at) <= after
    read = await api.get("/api/deliveries/del_1")
    assert read.status_code == 200
    assert read.json() == created.json()


async def test_the_original_api_date_name_is_accepted(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_delivery_date="2026-12-03")
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2026-12-03"


async def test_when_both_date_names_are_sent_estimated_date_wins(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_date="2026-12-03", estimated_delivery_date="2026-12-24")
    assert response.json()["estimated_date"] == "2026-12-03"


async def test_a_date_in_the_past_is_accepted(api: httpx.AsyncClient) -> None:
    response = await post(api, estimated_date="2020-02-29")
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2020-02-29"


@pytest.mark.parametrize("body", [{}, {"estimated_date": None}], ids=["absent", "null"])
async def test_without_a_date_it_is_the_order_date_plus_five_business_days(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await post(api, **body)
    assert response.status_code == 201
    assert response.json()["estimated_date"] == "2026-12-04"  # Friday + 5 business days


async def test_the_number_of_business_days_is_a_setting(sales: FakeSales) -> None:
    async with running(sales, business_days=1) as api:
        response = await post(api)
    assert response.json()["estimated_date"] == "2026-11-30"  # Friday + 1 business day = Monday


async def test_the_address_is_stored_without_surrounding_blanks_up_to_500_characters(
    api: httpx.AsyncClient,
) -> None:
    longest = "x" * 500
    assert (await post(api, address=f"  {longest}\n")).json()["address"] == longest


async def test_an_unknown_order_is_a_bad_request(api: httpx.AsyncClient) -> None:
    response = await post(api, order_id="order_9")
    assert response.status_code == 400
    assert response.json()["error"] == "Order order_9 not found"
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_an_order_that_is_not_confirmed_cannot_be_delivered(api: httpx.AsyncClient) -> None:
    response = await post(api, order_id="order_3")
    assert response.status_code == 409
    assert response.json()["error"] == "Order order_3 is Failed, not Confirmed"
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_second_delivery_for_an_order_is_refused(api: httpx.AsyncClient) -> None:
    first = await post(api)
    second = await post(api, address="9 Other Rd", estimated_date="2027-01-01")

    assert second.status_code == 409
    assert second.json()["error"] == "Order order_1 already has a delivery"
    assert (await api.get("/api/deliveries/del_1")).json() == first.json()
    assert (await api.get("/api/deliveries/del_2")).status_code == 404


async def test_concurrent_requests_for_one_order_make_one_delivery(api: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(post(api, address=f"{n} Main St") for n in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert (await api.get("/api/deliveries/del_2")).status_code == 404


async def test_delivery_ids_increase_and_a_refusal_uses_none(api: httpx.AsyncClient) -> None:
    assert (await post(api, order_id="order_1")).json()["delivery_id"] == "del_1"
    assert (await post(api, order_id="order_1")).status_code == 409
    assert (await post(api, order_id="order_3")).status_code == 409
    assert (await post(api, order_id="order_2")).json()["delivery_id"] == "del_2"
    assert (await api.get("/api/deliveries/del_2")).json()["order_id"] == "order_2"


async def test_the_order_id_travels_to_sales_as_one_path_segment(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    response = await post(api, order_id="a/../b?c=1#d")
    assert response.json()["error"] == "Order a/../b?c=1#d not found"
    assert sales.asked == ["/internal/orders/a%2F..%2Fb%3Fc%3D1%23d"]


async def test_an_unknown_delivery_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/deliveries/del_404")
    assert response.status_code == 404
    assert response.json()["error"] == "Delivery not found"


async def test_sales_down_is_503_with_retry_after() -> None:
    async with running(failing(httpx.ConnectError)) as api:
        response = await post(api)
        missing = await api.get("/api/deliveries/del_1")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "The sales service is unavailable"
    assert missing.status_code == 404


async def test_sales_too_slow_is_504() -> None:
    async with running(failing(httpx.ReadTimeout)) as api:
        response = await post(api)
    assert response.status_code == 504
    assert response.json()["error"] == "The sales service did not answer in time"


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (500, b'{"error": "Internal server error"}'),
        (401, b'{"error": "Unauthorized"}'),
        (200, b"<html>not json</html>"),
        (200, json.dumps({**an_order("order_1"), "created_at": None}).encode()),
        (200, json.dumps(an_order("order_1", created_at="2026-11-27T05:30:00")).encode()),  # no timezone
    ],
    ids=["500", "401", "not-json", "no-created-at", "naive-created-at"],
)
async def test_a_wrong_answer_from_sales_is_503_never_500(status: int, content: bytes) -> None:
    async with running(answering(status, content)) as api:
        response = await post(api)
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "Sales service error"


def _body(**fields: Any) -> str:
    return json.dumps({"order_id": "order_1", "address": ADDRESS, **fields})


BAD_BODIES = {
    "empty-object": "{}",
    "no-order-id": json.dumps({"address": ADDRESS}),
    "no-address": json.dumps({"order_id": "order_1"}),
    "order-id-number": _body(order_id=1),
    "order-id-empty": _body(order_id=""),
    "order-id-65-chars": _body(order_id="o" * 65),
    "address-number": _body(address=123),
    "address-null": _body(address=None),
    "address-list": _body(address=[ADDRESS]),
    "address-empty": _body(address=""),
    "address-blank": _body(address=" \t\n "),
    "address-501-chars": _body(address="x" * 501),
    "impossible-date": _body(estimated_date="2026-02-30"),
    "date-word": _body(estimated_date="tomorrow"),
    "date-number": _body(estimated_date=20261203),
    "date-seconds-text": _body(estimated_date="86400"),
    "date-with-time": _body(estimated_date="2026-12-03T10:00:00"),
    "date-us-style": _body(estimated_date="12/03/2026"),
    "bad-original-date": _body(estimated_delivery_date="2026-13-01"),
    "broken-json": '{"order_id": "order_1", "address": ',
    "array": "[]",
    "null": "null",
    "no-body": "",
}


@pytest.mark.parametrize("content", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_input_is_400_in_the_envelope_and_creates_nothing(
    api: httpx.AsyncClient, sales: FakeSales, content: str
) -> None:
    response = await api.post(
        "/api/deliveries", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request"
    assert body["details"]
    assert "detail" not in body
    assert sales.asked == []
    assert (await api.get("/api/deliveries/del_1")).status_code == 404


async def test_readiness_follows_sales() -> None:
    async with running(FakeSales()) as api:
        ready = await api.get("/readyz")
    async with running(failing(httpx.ConnectError)) as api:
        not_ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert not_ready.status_code == 503
    assert [d["component"] for d in not_ready.json()["details"]] == ["sales"]


# --- roles and customer isolation ----------------------------------------------------------------


def every_route(api: httpx.AsyncClient) -> list[httpx.Request]:
    return [
        api.build_request("POST", "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS}),
        api.build_request("GET", "/api/deliveries"),
        api.build_request("GET", "/api/deliveries/del_1"),
        api.build_request("PATCH", "/api/deliveries/del_1", json={"status": "Shipped"}),
    ]


async def test_every_delivery_route_needs_a_principal(api: httpx.AsyncClient, sales: FakeSales) -> None:
    await create(api)
    for request in every_route(api):
        del request.headers["x-principal-subject"]
        response = await api.send(request)
        assert response.status_code == 401, request.url
        assert response.json()["error"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert sales.moves == []
    assert (await api.get("/api/deliveries")).headers["x-total-count"] == "1"


@pytest.mark.parametrize("roles", ["", "guest"])
async def test_a_principal_without_a_known_role_is_forbidden(api: httpx.AsyncClient, roles: str) -> None:
    for request in every_route(api):
        request.headers["x-principal-roles"] = roles
        response = await api.send(request)
        assert response.status_code == 403, request.url
        assert response.json()["error"] == "Forbidden"
    assert (await api.get("/api/deliveries")).json() == {}


async def test_a_customer_schedules_the_delivery_of_its_own_order(api: httpx.AsyncClient) -> None:
    response = await post(api, headers=ALICE, order_id="order_4")
    assert response.status_code == 201
    assert (await api.get("/api/deliveries/del_1", headers=ALICE)).json() == response.json()


@pytest.mark.parametrize(
    "order_id",
    ["order_5", "order_1", "order_3"],
    ids=["another-customers", "staffs-customers", "another-customers-failed"],
)
async def test_another_customers_order_is_as_missing_as_an_unknown_one(
    api: httpx.AsyncClient, order_id: str
) -> None:
    response = await post(api, headers=ALICE, order_id=order_id)
    unknown = await post(api, headers=ALICE, order_id="order_99")

    assert response.status_code == unknown.status_code == 400
    assert response.json()["error"] == f"Order {order_id} not found"
    assert response.json().keys() == unknown.json().keys()
    assert (await api.get("/api/deliveries")).json() == {}


async def test_staff_schedules_deliveries_for_any_customer(api: httpx.AsyncClient) -> None:
    response = await post(api, headers=STAFF, order_id="order_5")
    assert response.status_code == 201
    assert response.json()["order_id"] == "order_5"


async def test_another_customers_delivery_does_not_exist_for_a_customer(api: httpx.AsyncClient) -> None:
    bobs = await create(api, "order_5", **BOB)

    for_alice = await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=ALICE)

    assert for_alice.status_code == 404
    assert for_alice.json()["error"] == "Delivery not found"
    assert (await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=BOB)).json() == bobs
    assert (await api.get(f"/api/deliveries/{bobs['delivery_id']}", headers=STAFF)).json() == bobs


# --- Idempotency-Key -----------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_replays_the_first_answer_and_creates_nothing(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    first = await api.post(
        "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS}, headers={"Idempotency-Key": "k1"}
    )
    again = await api.post(
        "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS}, headers={"Idempotency-Key": "k1"}
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(sales.asked) == 1
    listed = await api.get("/api/deliveries")
    assert list(listed.json()) == ["del_1"]


async def test_a_replay_also_repeats_a_refusal(api: httpx.AsyncClient, sales: FakeSales) -> None:
    body = {"order_id": "order_3", "address": ADDRESS}
    first = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})
    again = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})

    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(sales.asked) == 1


async def test_the_same_key_with_another_body_is_409_and_creates_nothing(api: httpx.AsyncClient) -> None:
    await api.post(
        "/api/deliveries", json={"order_id": "order_1", "address": ADDRESS}, headers={"Idempotency-Key": "k"}
    )

    other = await api.post(
        "/api/deliveries", json={"order_id": "order_2", "address": ADDRESS}, headers={"Idempotency-Key": "k"}
    )

    assert other.status_code == 409
    assert other.json()["error"] == "Idempotency-Key was already used with a different request body"
    assert list((await api.get("/api/deliveries")).json()) == ["del_1"]


async def test_keys_of_different_callers_do_not_collide(api: httpx.AsyncClient) -> None:
    alice = await api.post(
        "/api/deliveries",
        json={"order_id": "order_4", "address": ADDRESS},
        headers={**ALICE, "Idempotency-Key": "same"},
    )
    bob = await api.post(
        "/api/deliveries",
        json={"order_id": "order_5", "address": ADDRESS},
        headers={**BOB, "Idempotency-Key": "same"},
    )

    assert alice.status_code == bob.status_code == 201
    assert "idempotent-replayed" not in bob.headers
    assert (alice.json()["order_id"], bob.json()["order_id"]) == ("order_4", "order_5")


async def test_twenty_concurrent_requests_with_one_key_make_one_delivery(api: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(
            api.post(
                "/api/deliveries",
                json={"order_id": "order_1", "address": ADDRESS},
                headers={"Idempotency-Key": "burst"},
            )
            for _ in range(20)
        )
    )

    assert {r.status_code for r in responses} <= {201, 409}
    assert {r.json()["delivery_id"] for r in responses if r.status_code == 201} == {"del_1"}
    assert all(
        r.json()["error"] == "A request with this Idempotency-Key is still in progress"
        for r in responses
        if r.status_code == 409
    )
    listed = await api.get("/api/deliveries")
    assert list(listed.json()) == ["del_1"]
    assert listed.headers["x-total-count"] == "1"


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_unusable_key_is_400(api: httpx.AsyncClient, sales: FakeSales, key: str) -> None:
    response = await post(api, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert sales.asked == []


async def test_on_the_json_store_deliveries_and_keys_survive_a_restart(
    sales: FakeSales, tmp_path: Path
) -> None:
    body = {"order_id": "order_1", "address": ADDRESS}
    settings: dict[str, Any] = {"store": "json", "data_dir": tmp_path / "delivery"}
    async with running(sales, **settings) as api:
        first = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})
        assert (await api.patch("/api/deliveries/del_1", json={"status": "Shipped"})).status_code == 200

    async with running(sales, **settings) as api:
        replay = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})
        shipped = await api.get("/api/deliveries/del_1")
        second = await post(api, order_id="order_2")

    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert [change["status"] for change in shipped.json()["history"]] == ["Pending", "Shipped"]
    assert second.json()["delivery_id"] == "del_2"
