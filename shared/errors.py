"""The error envelope of the public contract and the exceptions that carry their HTTP status.

Domain code raises `AppError` subclasses (this module imports no web framework); the handlers in
`shared.app` render every error as `{"error": ..., "details": [...], "request_id": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from shared.context import request_id_var


class AppError(Exception):
    """An error with its HTTP status, message and optional details, rendered as the envelope."""

    status = 500
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = list(details) if details else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.message)


class BadRequest(AppError):
    status = 400
    message = "Invalid request"


class Unauthorized(AppError):
    status = 401
    message = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403
    message = "Forbidden"


class NotFound(AppError):
    status = 404
    message = "Not found"


class Conflict(AppError):
    status = 409
    message = "Conflict"


class ServiceUnavailable(AppError):
    status = 503
    message = "Service unavailable"

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)}, extra=extra)


class UpstreamTimeout(AppError):
    status = 504
    message = "Upstream timed out"


def error_body(
    message: str, details: Sequence[Mapping[str, Any]] | None = None, extra: Mapping[str, Any] | None = None
) -> bytes:
    """The envelope's bytes (with any `extra` fields); the current request id is added when there is one."""
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = list(details)
    body.update(extra or {})
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body, default=str)


def validation_details(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's (or FastAPI's) validation errors as the envelope's details: the field's dotted
    path without FastAPI's `body` prefix, and the message."""
    details = []
    for err in errors:
        if err.get("type") == "json_invalid":  # its loc is a character offset, not a field
            details.append(
                {"field": "body", "message": f"Invalid JSON: {err.get('ctx', {}).get('error', '')}"}
            )
            continue
        loc = [str(part) for part in err.get("loc", ()) if part != "body"]
        details.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    return details
