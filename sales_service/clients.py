"""Sales' view of the inventory service (`Inventory`) and its HTTP implementation: hold, commit,
release and return stock, keyed by order id."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from sales_service.domain import MAX_TOTAL, OrderTooLarge, OutOfStock
from shared.errors import Conflict, ServiceUnavailable
from shared.http import Upstream, UpstreamResponse
from shared.retry import retry_idempotent


class HoldLost(Conflict):
    """The hold is gone (released or expired) and can no longer be committed."""


class Inventory(Protocol):
    """The inventory service as sales needs it: stock held for an order, then settled one way."""

    async def hold(self, order_id: str, wanted: dict[str, int]) -> dict[str, Decimal]:
        """Hold every line or none (OutOfStock, or OrderTooLarge when they would cost more than
        MAX_TOTAL); the unit price of each held book."""

    async def commit(self, order_id: str) -> None: ...

    async def release(self, order_id: str) -> None: ...

    async def return_units(self, order_id: str) -> None:
        """Put a committed hold's units back in stock (an order cancelled after it was paid)."""


class InventoryClient:
    """`Inventory` over the inventory service's internal API."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def hold(self, order_id: str, wanted: dict[str, int]) -> dict[str, Decimal]:
        lines = [{"book_id": book_id, "quantity": quantity} for book_id, quantity in wanted.items()]
        response = await retry_idempotent(  # a hold is keyed by order id: a retry never holds twice
            lambda: self.upstream.call(
                "POST",
                "/internal/holds",
                json={"order_id": order_id, "lines": lines, "max_total": str(MAX_TOTAL)},
            )
        )
        if response.status_code in (200, 201):
            return _prices(response, order_id, wanted)
        body = _json(response)
        if response.status_code == 400 and _refuses_total(body):
            raise OrderTooLarge(str(body.get("error") or "") or None)
        if response.status_code == 409 and isinstance(details := body.get("details"), list):
            raise OutOfStock(str(body.get("error", "Books not available")), details=details)
        raise _unexpected(response)

    async def commit(self, order_id: str) -> None:
        response = await self.upstream.call("POST", f"/internal/holds/{quote(order_id, safe='')}/commit")
        if response.status_code in (404, 409):
            raise HoldLost(f"The stock held for {order_id} was released")
        if response.status_code != 200:
            raise _unexpected(response)

    async def return_units(self, order_id: str) -> None:
        response = await self.upstream.call("POST", f"/internal/holds/{quote(order_id, safe='')}/return")
        if response.status_code != 200:
            raise _unexpected(response)

    async def release(self, order_id: str) -> None:
        response = await self.upstream.call("POST", f"/internal/holds/{quote(order_id, safe='')}/release")
        if response.status_code not in (200, 404):  # 404: the hold never reached inventory
            raise _unexpected(response)


class _HeldLine(BaseModel):
    book_id: str
    quantity: int
    unit_price: Decimal


class _Hold(BaseModel):
    order_id: str
    status: str
    lines: list[_HeldLine]


def _prices(response: UpstreamResponse, order_id: str, wanted: dict[str, int]) -> dict[str, Decimal]:
    """The unit prices of a hold that matches what was asked, or 503: never trust a garbled answer."""
    try:
        held = _Hold.model_validate_json(response.content)
    except ValidationError as exc:
        raise _unexpected(response) from exc
    if held.status != "held":  # an old hold under a reused order id: never sell without stock
        raise Conflict(f"Inventory already settled a hold for {order_id}")
    if held.order_id != order_id or {ln.book_id: ln.quantity for ln in held.lines} != wanted:
        raise _unexpected(response)
    return {ln.book_id: ln.unit_price for ln in held.lines}


def _json(response: UpstreamResponse) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refuses_total(body: dict[str, object]) -> bool:
    details = body.get("details")
    return isinstance(details, list) and any(
        isinstance(d, dict) and d.get("field") == "total" for d in details
    )


def _unexpected(response: UpstreamResponse) -> ServiceUnavailable:
    return ServiceUnavailable(f"Inventory service error ({response.status_code})")
