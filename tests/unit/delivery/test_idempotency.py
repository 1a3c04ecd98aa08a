"""Idempotency-Key on POST /api/deliveries: the key is bound to the delivery it scheduled, and a
retry is answered from that delivery as it is now and creates nothing; a refusal binds nothing,
another body is 409, keys are the caller's own, and they survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from delivery_service.domain import Delivery, DeliveryDraft
from delivery_service.store import DocDeliveryStore
from shared.errors import ServiceUnavailable
from shared.idempotency import Key
from shared.store import Tables
from tests.helpers import ALICE, BOB, assert_envelope
from tests.unit.delivery.fake_sales import (
    ADDRESS,
    ORDERS_PATH,
    FakeSales,
    an_order,
    patch,
    post,
    read,
    running,
)

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


async def test_a_refusal_binds_no_key_and_a_retry_is_asked_again(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    """A refusal kept nothing, so it is not replayed (issue 14: a replayed failure could never
    succeed); the retry is refused again, on the order's state as it is now."""
    body = {"order_id": "order_3", "address": ADDRESS}
    first = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})
    again = await api.post("/api/deliveries", json=body, headers={"Idempotency-Key": "k"})

    assert first.status_code == again.status_code == 409
    assert again.json()["error"] == first.json()["error"]
    assert "idempotent-replayed" not in again.headers
    assert len(sales.asked) == 2
    assert (await api.get("/api/deliveries")).json() == {}


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
    # Bound to the delivery, not claimed by a running request: every retry is answered from it.
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 19
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
    # Answered from the delivery as it is now (issue 14), no longer the first answer as recorded.
    assert replay.json()["delivery_id"] == first.json()["delivery_id"]
    assert replay.json() == shipped.json()
    assert [change["status"] for change in shipped.json()["history"]] == ["Pending", "Shipped"]
    assert second.json()["delivery_id"] == "del_2"


# --- a key is bound to its delivery, answered from the delivery as it is now (issue 14) ---------


class CutAfterAdd(DocDeliveryStore):
    """Stores the delivery, then fails as a request cut after its write would (the store's answer
    lost, or a shutdown): once with `error`."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(Tables())
        self.error: BaseException | None = error

    async def add_delivery(self, draft: DeliveryDraft, key: Key | None = None) -> Delivery:
        made = await super().add_delivery(draft, key)
        error, self.error = self.error, None
        if error is not None:
            raise error
        return made


class DownStore(DocDeliveryStore):
    async def keyed_delivery(self, key: Key) -> str | None:
        raise ServiceUnavailable("The store is unavailable", retry_after=2)


async def test_a_retry_after_success_answers_the_delivery_as_it_is_now(
    api: httpx.AsyncClient, sales: FakeSales
) -> None:
    """On main the first answer (Pending) was replayed after the delivery had shipped."""
    first = await post(api, headers={"Idempotency-Key": "k"})
    assert (await patch(api, "Shipped")).status_code == 200

    again = await post(api, headers={"Idempotency-Key": "k"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == await read(api)
    assert (again.json()["delivery_id"], again.json()["status"]) == ("del_1", "Shipped")
    assert sales.asked == [f"{ORDERS_PATH}order_1"]  # the retry did not ask sales again


async def test_a_retry_after_a_refused_request_runs_again(api: httpx.AsyncClient, sales: FakeSales) -> None:
    first = await post(api, headers={"Idempotency-Key": "k"}, order_id="order_9")
    sales.orders["order_9"] = an_order("order_9")  # the order exists now

    again = await post(api, headers={"Idempotency-Key": "k"}, order_id="order_9")

    assert first.status_code == 400
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["order_id"] == "order_9"


@pytest.mark.parametrize(
    "cut", [ServiceUnavailable("The store is unavailable", retry_after=2), asyncio.CancelledError()]
)
async def test_a_request_cut_after_its_delivery_was_stored_is_answered_from_it_on_retry(
    sales: FakeSales, cut: BaseException
) -> None:
    async with running(sales, delivery_store=CutAfterAdd(cut)) as api:
        first = await asyncio.gather(post(api, headers={"Idempotency-Key": "k"}), return_exceptions=True)
        again = await post(api, headers={"Idempotency-Key": "k"})
        listed = await api.get("/api/deliveries")

    if isinstance(cut, ServiceUnavailable):  # the store's error is 503 in the envelope, never 500
        assert isinstance(first[0], httpx.Response)
        assert_envelope(first[0], 503, "The store is unavailable")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["delivery_id"] == "del_1"
    assert list(listed.json()) == ["del_1"]
    assert len(sales.asked) == 1


async def test_a_store_error_on_the_key_is_503_in_the_envelope(sales: FakeSales) -> None:
    async with running(sales, delivery_store=DownStore(Tables())) as api:
        response = await post(api, headers={"Idempotency-Key": "k"})

    assert_envelope(response, 503, "The store is unavailable")
    assert response.headers["retry-after"] == "2"
    assert sales.asked == []


async def test_each_caller_holds_at_most_its_bound_of_keys(sales: FakeSales) -> None:
    async with running(sales, idempotency_max_keys=1) as api:
        first = await post(api, headers={"Idempotency-Key": "k1"})
        second = await post(api, headers={"Idempotency-Key": "k2"}, order_id="order_2")
        without = await post(api, order_id="order_2")
        by_alice = await post(api, headers={**ALICE, "Idempotency-Key": "k2"}, order_id="order_4")

    assert (first.status_code, without.status_code, by_alice.status_code) == (201, 201, 201)
    assert_envelope(second, 429, "Too many Idempotency-Keys held; retry later or without a key")
    assert second.headers["retry-after"] == "60"
    assert without.json()["delivery_id"] == "del_3"  # the refused add took del_2, left unused
