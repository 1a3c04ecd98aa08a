"""Per-request context (the request id) shared by logging, errors and outbound calls."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def sane_request_id(candidate: str | None) -> str:
    """The client's id when it is short and plain, else a fresh one (never echo junk into logs)."""
    if candidate and _SANE_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex
