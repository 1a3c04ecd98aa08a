"""Checks of our own for the schemathesis run of tests/e2e/test_schema_conformance.py, loaded through
SCHEMATHESIS_HOOKS=tests.e2e.schemathesis_hooks."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response


@schemathesis.check
def refused_only_as_documented(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """In place of `positive_data_acceptance`: a schema-valid request may be refused (400) by a rule
    the schema cannot hold and the API documents (no such book or order, a cursor we did not give,
    an ISBN whose check digit does not add up), never by validation of a shape the schema describes.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    body: dict[str, Any] = response.json()
    if body.get("error") != "Invalid request":  # a refusal of the domain, documented per route
        return None
    details: list[dict[str, str]] = body.get("details") or []
    check_digit = any("check digit" in d.get("message", "") for d in details)
    if check_digit and all(d.get("field", "").startswith("isbn") for d in details):
        return None
    raise AssertionError(f"Schema-valid data refused by validation: {details}")
