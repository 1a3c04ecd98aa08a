"""Wire types every service shares: money as an exact JSON number, and the error envelope's schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

# Exact inside (Decimal), a JSON number with at most 2 decimals on the wire.
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2, examples=[15.99]),
    PlainSerializer(float, return_type=float, when_used="json"),
]
# Money already stored, on its way out: never checked again (a stored amount must always render).
StoredMoney = Annotated[
    Decimal,
    Field(examples=[15.99]),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class ErrorBody(BaseModel):
    """The contract's error envelope."""

    error: str
    details: list[dict[str, Any]] | None = None
    request_id: str | None = None


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route's error statuses, each in the envelope's schema."""
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}
