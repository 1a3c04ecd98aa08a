"""Issue 14, "Exactly once", on the real system: each order placed once, each unit sold once,
through large totals, retries, recovery beside a live saga and a deploy's restart."""

from __future__ import annotations

from typing import Any

import httpx

from devtools.system import LocalSystem
from tests.helpers import all_orders, assert_envelope

PRICIEST = 1_000_000  # the most a book may cost


def isbn13(n: int) -> str:
    digits = f"978{n:09d}"
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10) % 10
    return f"{digits}{check}"


async def charges(system: LocalSystem) -> float:
    """Charges the sales instance has taken (approved), from its /metrics."""
    async with httpx.AsyncClient() as direct:
        text = (await direct.get(f"{system.service_url('sales')}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("payments_total{") and 'operation="charge"' in line and "approved" in line
    )


async def test_an_order_over_the_most_money_can_carry_is_400_and_nothing_is_held_or_charged(
    client: httpx.AsyncClient, system: LocalSystem
) -> None:
    """Scenario 3: ten lines of 1000 books at 1,000,000 make 10^10, one cent over what money holds."""
    for n in range(10):
        book = {"id": f"dear{n}", "title": "Dear", "author": "A", "price": PRICIEST, "stock": 1000}
        added = await client.post("/api/books", json={**book, "isbn": isbn13(n)})
        assert added.status_code == 201, added.text
    order: dict[str, Any] = {
        "customer_id": "cust_001",
        "books": [{"book_id": f"dear{n}", "quantity": 1000} for n in range(10)],
        "payment_method": "credit_card",
        "payment_token": "tok_visa",
    }

    response = await client.post("/api/orders", json=order, headers={"Idempotency-Key": "big"})

    body = assert_envelope(response, 400)
    assert body["details"][0]["field"] == "total"
    for n in range(10):
        assert (await client.get(f"/api/books/dear{n}")).json()["stock"] == 1000
    assert await all_orders(client) == []
    assert await charges(system) == 0
