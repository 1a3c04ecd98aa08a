"""Placing an order through its lean route (shared/lean.py) answers exactly as the declared FastAPI
route does: the same statuses, envelopes, replays and refusals, request for request, on two shops
that start alike (one with the lean route taken out)."""

from __future__ import annotations

from typing import Any

from sales_service.payments import SimulatedPayments
from shared.lean import LeanRoutes
from tests.helpers import CUSTOMER, STAFF
from tests.unit.sales.fake_inventory import ORDER, Shop, for_, running_shop

JSON = {"Content-Type": "application/json"}
REQUESTS: list[tuple[Any, dict[str, str]]] = [
    (ORDER, {}),
    (ORDER, {"Idempotency-Key": "k1"}),
    (ORDER, {"Idempotency-Key": "k1"}),  # a retry: answered from the order, replayed
    ({**ORDER, "payment_token": "tok_other"}, {"Idempotency-Key": "k1"}),  # another body: 409
    (ORDER, {"Idempotency-Key": "k" * 256}),  # longer than the header allows
    (ORDER, {"Idempotency-Key": ""}),
    ({**ORDER, "payment_token": "tok_declined"}, {}),  # 402, stored Failed
    ({**ORDER, "payment_token": "tok_unavailable"}, {}),  # 503
    (for_("cust_001", "999"), {}),  # no such book
    (for_("cust_001", "123", 10_000), {}),  # short of stock
    ({**ORDER, "books": []}, {}),
    ({**ORDER, "payment_method": "cheque"}, {}),
    ({**ORDER, "extra": 1}, {}),
    ({k: v for k, v in ORDER.items() if k != "customer_id"}, {}),
    ("not json", {}),
    (for_("cust_002"), CUSTOMER),  # a customer ordering for another: 403
    (for_("cust_001"), CUSTOMER),
    (ORDER, {"x-principal-subject": "", "x-principal-roles": ""}),  # no caller: 401
]


async def answers(shop: Shop) -> list[tuple[Any, ...]]:
    got = []
    for body, headers in REQUESTS:
        content = body.encode() if isinstance(body, str) else None
        response = await shop.api.post(
            "/api/orders", json=None if content else body, content=content, headers={**JSON, **headers}
        )
        payload = response.json()
        payload.pop("request_id", None)
        payload.pop("created_at", None)
        kept = {k: response.headers.get(k) for k in ("content-type", "retry-after", "idempotent-replayed")}
        got.append((response.status_code, payload, kept))
    return got


async def test_the_lean_order_route_answers_as_the_declared_route() -> None:
    async with running_shop(SimulatedPayments()) as lean, running_shop(SimulatedPayments()) as twin:
        app = twin.api._transport.app  # type: ignore[attr-defined]
        app.user_middleware = [m for m in app.user_middleware if m.cls is not LeanRoutes]
        app.middleware_stack = app.build_middleware_stack()
        assert lean.api.headers["x-principal-subject"] == STAFF["x-principal-subject"]

        lean_answers, twin_answers = await answers(lean), await answers(twin)

    assert [a[0] for a in lean_answers] == [a[0] for a in twin_answers]
    for lean_answer, twin_answer in zip(lean_answers, twin_answers, strict=True):
        assert lean_answer == twin_answer
    assert {status for status, _, _ in lean_answers} >= {201, 400, 401, 402, 403, 409, 503}
