"""Idempotency-Key on POST /api/orders: a retry replays the first answer (a refusal too), another body
is 409, keys are scoped to the caller, fifty concurrent retries make one order."""

from __future__ import annotations

import asyncio

import pytest

from shared.idempotency import KEYS
from tests.helpers import ALICE, BOB
from tests.unit.sales.fake_inventory import ORDER, Shop, for_

# --- Idempotency-Key -----------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_replays_the_first_answer(shop: Shop) -> None:
    first = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k1"})
    again = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"
    assert shop.inventory.stock["123"] == 48


async def test_a_replay_also_repeats_a_refusal(shop: Shop) -> None:
    body = {**ORDER, "payment_token": "tok_declined"}
    first = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})
    again = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})

    assert first.status_code == again.status_code == 402
    assert again.json()["order_id"] == first.json()["order_id"]
    assert shop.inventory.count("hold") == 1


async def test_the_same_key_with_another_body_is_409(shop: Shop) -> None:
    await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    other = await shop.api.post("/api/orders", json=for_("zed"), headers={"Idempotency-Key": "k"})

    assert other.status_code == 409
    assert other.json()["error"] == "Idempotency-Key was already used with a different request body"
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"


async def test_the_same_json_written_differently_is_the_same_body(shop: Shop) -> None:
    await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})
    reordered = (
        '{"payment_token": "tok_visa", "payment_method": "credit_card",  '
        '"books": [{"quantity": 2, "book_id": "123"}], "customer_id": "cust_001"}'
    )

    again = await shop.api.post(
        "/api/orders", content=reordered, headers={"Idempotency-Key": "k", "content-type": "application/json"}
    )

    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_to_the_caller(shop: Shop) -> None:
    alice = await shop.api.post(
        "/api/orders", json=for_("alice"), headers={**ALICE, "Idempotency-Key": "same"}
    )
    bob = await shop.api.post("/api/orders", json=for_("bob"), headers={**BOB, "Idempotency-Key": "same"})

    assert alice.status_code == bob.status_code == 201
    assert alice.json()["order_id"] != bob.json()["order_id"]


async def test_fifty_concurrent_retries_with_one_key_make_one_order(shop: Shop) -> None:
    responses = await asyncio.gather(
        *(shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "burst"}) for _ in range(50))
    )

    created = [r for r in responses if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in responses)
    assert len({r.json()["order_id"] for r in created}) == 1
    in_progress = [r for r in responses if r.status_code == 409]
    assert all(
        r.json()["error"] == "A request with this Idempotency-Key is still in progress" for r in in_progress
    )
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"
    assert shop.inventory.count("hold") == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_unusable_key_is_400(shop: Shop, key: str) -> None:
    response = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert shop.inventory.calls == []


# --- a key is bound to its order, answered from the order's state now (issue 14) ----------------


async def test_a_request_that_kept_nothing_binds_no_key_and_the_retry_succeeds(shop: Shop) -> None:
    """Scenario 4: inventory down answered 503; on main the retry got that 503 replayed for 24 h."""
    shop.inventory.fail("hold")
    first = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})
    shop.inventory.heal()

    again = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    assert first.status_code == 503
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert (await shop.api.get("/api/orders")).headers["x-total-count"] == "1"


async def test_a_request_refused_by_validation_keeps_no_record(shop: Shop) -> None:
    response = await shop.api.post(
        "/api/orders", json={**ORDER, "books": []}, headers={"Idempotency-Key": "k"}
    )
    short = await shop.api.post(
        "/api/orders", json=for_("cust_001", "123", 51), headers={"Idempotency-Key": "k2"}
    )

    assert (response.status_code, short.status_code) == (400, 400)
    assert await shop.store.docs.keys(KEYS) == []


async def test_a_retry_after_recovery_confirmed_the_order_gets_it_confirmed(shop: Shop) -> None:
    """On main the retry got the first 503 ("will be confirmed when it recovers") replayed."""
    shop.inventory.fail("commit")
    first = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})
    shop.inventory.heal()
    await shop.recover()

    again = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    assert first.status_code == 503
    assert first.json()["order_id"] == "order_1"
    assert again.status_code == 201, again.text
    assert (again.json()["order_id"], again.json()["status"]) == ("order_1", "Confirmed")
    assert again.headers["idempotent-replayed"] == "true"
    assert shop.inventory.count("hold") == 1


async def test_a_retry_while_the_order_is_pending_is_409_with_retry_after(shop: Shop) -> None:
    shop.inventory.fail("commit")
    await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    again = await shop.api.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k"})

    assert again.status_code == 409
    assert again.json()["error"] == "A request with this Idempotency-Key is still in progress"
    assert again.json()["order_id"] == "order_1"
    assert again.headers["retry-after"].isdigit()


async def test_a_retry_of_a_failed_order_gets_the_failure(shop: Shop) -> None:
    body = {**ORDER, "payment_token": "tok_unavailable"}
    first = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})

    again = await shop.api.post("/api/orders", json=body, headers={"Idempotency-Key": "k"})

    assert first.status_code == 503
    assert again.status_code == 409
    assert again.json()["order_id"] == "order_1"
    assert "failed" in again.json()["error"]
    assert shop.inventory.count("hold") == 1
