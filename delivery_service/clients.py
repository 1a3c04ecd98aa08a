"""Delivery's view of the sales service (`Sales`) and its HTTP implementation over sales' internal API:
read an order, move it along with its delivery, learn which orders were cancelled."""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote, urlencode

from pydantic import AwareDatetime, BaseModel, ValidationError

from delivery_service.domain import Order, OrderMove, OrderMoveRefused, OrderNotFound
from shared.errors import ServiceUnavailable
from shared.http import Upstream, UpstreamResponse
from shared.retry import retry_idempotent

log = logging.getLogger("delivery_service.clients")
# Sales has no resource at the order's path: 404, or 405 when an id that got past validation makes
# the path another route's. Either way no such order, never a 503 that invites a retry.
_NO_SUCH_ORDER = (404, 405)


class _OrderDoc(BaseModel):
    """The fields of sales' order document that delivery reads; the others are ignored."""

    order_id: str
    customer_id: str
    status: str
    created_at: AwareDatetime


class _ErrorDoc(BaseModel):
    error: str


class _CancelledDoc(BaseModel):
    order_ids: list[str]


class Sales(Protocol):
    """The sales service as delivery needs it."""

    async def get_order(self, order_id: str) -> Order:
        """The order; OrderNotFound when sales has none."""

    async def move_order(self, order_id: str, status: OrderMove) -> None:
        """Sales moved the order to `status` (or it was there already); OrderMoveRefused when not."""

    async def cancelled_orders(self, order_ids: list[str]) -> set[str]:
        """Those of `order_ids` (at most `CANCELLED_BATCH`) that are Cancelled orders."""


CANCELLED_BATCH = 100  # order ids sales is asked about at once


class SalesClient:
    """`Sales` over HTTP; transport failures become 503/504 (see `Upstream.call`)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def get_order(self, order_id: str) -> Order:
        """The order, OrderNotFound when sales has none, 503 for any answer that is not an order."""
        response = await retry_idempotent(lambda: self.upstream.call("GET", _order_path(order_id)))
        if response.status_code in _NO_SUCH_ORDER:
            raise OrderNotFound(order_id)
        if response.status_code != 200:
            raise _sales_error(response, "unexpected status")
        doc = _order_doc(response)
        return Order(doc.order_id, doc.customer_id, doc.status, doc.created_at)

    async def move_order(self, order_id: str, status: OrderMove) -> None:
        """Sales moved the order to `status` (or it was there already); OrderMoveRefused (409) when
        sales refuses or has no such order; 503 for any other answer."""
        response = await self.upstream.call(
            "POST", f"{_order_path(order_id)}/status", json={"status": status}
        )
        if response.status_code in _NO_SUCH_ORDER:
            raise OrderMoveRefused(f"Order {order_id} not found")
        if response.status_code == 409:
            try:
                refusal = _ErrorDoc.model_validate_json(response.content).error
            except ValidationError as exc:
                raise _sales_error(response, "not an error") from exc
            raise OrderMoveRefused(refusal)
        if response.status_code != 200:
            raise _sales_error(response, "unexpected status")
        if _order_doc(response).status != status:  # only sales' yes may ship a delivery
            raise _sales_error(response, "order not moved")

    async def cancelled_orders(self, order_ids: list[str]) -> set[str]:
        query = urlencode([("order_id", order_id) for order_id in order_ids])
        path = f"/internal/orders/cancelled?{query}"
        response = await retry_idempotent(lambda: self.upstream.call("GET", path))
        if response.status_code != 200:
            raise _sales_error(response, "unexpected status")
        try:
            return set(_CancelledDoc.model_validate_json(response.content).order_ids)
        except ValidationError as exc:
            raise _sales_error(response, "not a list of orders") from exc


def _order_path(order_id: str) -> str:
    return f"/internal/orders/{quote(order_id, safe='')}"


def _order_doc(response: UpstreamResponse) -> _OrderDoc:
    try:
        return _OrderDoc.model_validate_json(response.content)
    except ValidationError as exc:
        raise _sales_error(response, "not an order") from exc


def _sales_error(response: UpstreamResponse, problem: str) -> ServiceUnavailable:
    # Whatever sales got wrong is not the client's fault: a 503 it may retry, never a 500.
    log.warning("bad answer from sales", extra={"problem": problem, "status": response.status_code})
    return ServiceUnavailable("Sales service error")
