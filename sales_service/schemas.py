"""Sales' wire schemas: the order request and the order as the contract shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from sales_service.domain import Order, OrderLine, OrderStatus, PaymentMethod, PaymentStatus, merge_lines
from shared.schemas import WHOLE, ErrorBody, Identifier, StoredMoney


class OrderLineIn(BaseModel):
    book_id: Annotated[Identifier, Field(examples=["123"])]
    quantity: Annotated[StrictInt, Field(ge=1, le=1000, examples=[2]), WHOLE]


class OrderIn(BaseModel):
    customer_id: Annotated[
        StrictStr, Field(min_length=1, max_length=128, pattern=r"\S", examples=["cust_001"])
    ]
    books: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]
    payment_method: PaymentMethod
    payment_token: Annotated[StrictStr | None, Field(max_length=255, examples=["tok_visa"])] = None

    def lines(self) -> tuple[OrderLine, ...]:
        return merge_lines([(line.book_id, line.quantity) for line in self.books])


class OrderLineOut(BaseModel):
    book_id: str
    quantity: int
    unit_price: StoredMoney | None


class OrderOut(BaseModel):
    order_id: str
    customer_id: str
    books: list[OrderLineOut]
    total_amount: StoredMoney
    status: OrderStatus
    payment_status: PaymentStatus
    created_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            order_id=order.order_id,
            customer_id=order.customer_id,
            books=[
                OrderLineOut(book_id=ln.book_id, quantity=ln.quantity, unit_price=ln.unit_price)
                for ln in order.lines
            ],
            total_amount=order.total_amount,
            status=order.status,
            payment_status=order.payment_status,
            created_at=order.created_at,
        )


class DeliveryMoveIn(BaseModel):
    """What delivery reports about an order's shipment."""

    status: Literal["Shipped", "Delivered"]


class PaymentDeclinedBody(ErrorBody):
    """A declined payment: the envelope plus the id of the order stored as Failed."""

    order_id: str


class ReconciledOut(BaseModel):
    """What one reconciliation of orders with inventory's holds did (sales_service/reconcile.py)."""

    checked: int
    repaired: list[str]
    unrepaired: list[str]
