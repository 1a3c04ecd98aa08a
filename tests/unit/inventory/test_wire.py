"""The bytes the hottest routes answer, serialised once with orjson, are the bytes their declared
response models would have made (the API description and the clients rely on the model)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from inventory_service.domain import Book, HeldLine, Hold
from inventory_service.schemas import BookOut, HoldOut


@pytest.mark.parametrize("price", [Decimal("15.99"), Decimal("10.00"), Decimal("0.01"), Decimal("999999.99")])
def test_a_book_serialised_once_is_its_models_json(price: Decimal) -> None:
    book = Book("b-1", 'Tïtle "quoted"', "Author", price, 7, "9780743273565")

    assert BookOut.json_of(book) == BookOut.of(book).model_dump_json().encode()


@pytest.mark.parametrize(
    "expires_at",
    [datetime(2026, 12, 1, 6, 45, 0, 123456, tzinfo=UTC), datetime(2026, 12, 1, 6, 45, tzinfo=UTC)],
)
def test_a_hold_serialised_once_is_its_models_json(expires_at: datetime) -> None:
    lines = (HeldLine("123", 2, Decimal("15.99")), HeldLine("456", 1, Decimal("12.50")))
    hold = Hold("order_1", lines, "held", expires_at)

    assert HoldOut.json_of(hold) == HoldOut.of(hold).model_dump_json().encode()
