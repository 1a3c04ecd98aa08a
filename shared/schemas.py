"""Wire types every service shares: money as an exact JSON number, identifiers, and the error
envelope's schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, StrictStr

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

# An id that goes into a path between the services (books, orders): validated where it comes in, so
# no `/`, `%` or space can make it name another resource (400, never a 404 or 405 upstream).
Identifier = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="1-64 letters, digits, `_` or `-`",
    ),
]


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# After a StrictInt's constraints (`Annotated[StrictInt, Field(ge=1), WHOLE]`, so they stay in the
# JSON Schema): a JSON integer as JSON Schema has it, `2` or `2.0`, never `2.5`, `"2"` or `true`.
WHOLE = BeforeValidator(_whole)


class ErrorBody(BaseModel):
    """The contract's error envelope."""

    error: str
    details: list[dict[str, Any]] | None = None
    request_id: str | None = None


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route's error statuses, each in the envelope's schema."""
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}
