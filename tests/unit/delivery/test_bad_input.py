"""Bad input to POST /api/deliveries: 400 in the envelope, sales never asked, nothing created."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.unit.delivery.fake_sales import (
    ADDRESS,
    FakeSales,
)


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
