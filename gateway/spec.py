"""The gateway's one OpenAPI description of the public API, merged from the services' own: `merge`,
a pure function (no I/O), limited to each service's public prefix, with what the gateway itself
answers (authentication, limits, unavailable services) added to every operation."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from shared.schemas import ErrorBody

DESCRIPTION = """\
The bookstore's public API. Every request goes to this gateway under `/api` with
`Authorization: Bearer <token>`; a missing or unknown token is `401`, checked before anything else.
A development install accepts the token `my_secure_token` (role `admin`): click **Authorize**,
paste it, then **Try it out**.

Every error, from the gateway or any service, is one JSON envelope:
`{"error": "Book not found", "details": [...], "request_id": "..."}` (`details` and `request_id`
are optional). Invalid input is `400`, too many requests `429` and an unavailable service `503`
(both with `Retry-After`), a service that is too slow `504`.

Every response carries `X-Request-ID`: the one the client sent, if it is sane, else a new one.
Quote it when reporting a problem: every service logs it with the request.
"""

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_FASTAPI_VALIDATION = {"HTTPValidationError", "ValidationError"}  # our services answer 400, never 422
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_HEADERS = {
    "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}},
}
# What the gateway itself answers, whatever the service behind the path would have said.
_GATEWAY_RESPONSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "401": ("Unauthorized: the bearer token is missing, malformed or unknown", ("WWW-Authenticate",)),
    "429": ("Too many requests", ("Retry-After",)),
    "503": ("The service behind this path is unavailable", ("Retry-After",)),
    "504": ("The service behind this path did not answer in time", ()),
}
_REQUEST_ID = "X-Request-ID"
Renames = dict[tuple[str, str], str]  # (components section, name) -> new name


def merge(
    documents: Mapping[str, Mapping[str, Any]], prefixes: Mapping[str, str], version: str = "0.0.0"
) -> dict[str, Any]:
    """One OpenAPI 3.1 document from each service's own (keyed by service name), limited to the
    service's public prefix, with the gateway's authentication and error responses added."""
    parts = {name: _public_part(doc, prefixes[name]) for name, doc in documents.items()}
    renames = _renames(parts)
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    for name, part in parts.items():
        part = _rewrite_refs(part, renames[name])
        paths.update(part["paths"])
        for section, items in part["components"].items():
            for key, value in items.items():
                components.setdefault(section, {})[renames[name].get((section, key), key)] = value
        tags.update((tag["name"], tag) for tag in part["tags"])
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
    components.setdefault("headers", {})[_REQUEST_ID] = {
        "description": "The request's id, as every service logged it",
        "schema": {"type": "string"},
    }
    components.setdefault("securitySchemes", {})["bearerAuth"] = {"type": "http", "scheme": "bearer"}
    for path_item in paths.values():
        _add_gateway_responses(path_item)
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Bookstore API", "description": DESCRIPTION, "version": version},
        "paths": paths,
        "components": components,
        "security": [{"bearerAuth": []}],
    }
    if tags:
        merged["tags"] = list(tags.values())
    return merged


def _public_part(document: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The service's paths under `prefix`, without FastAPI's 422 answers and their schemas."""
    paths = {
        path: copy.deepcopy(item)
        for path, item in document.get("paths", {}).items()
        if path == prefix or path.startswith(prefix + "/")
    }
    for item in paths.values():
        for method, operation in item.items():
            if method in _METHODS:
                operation.get("responses", {}).pop("422", None)
    components = copy.deepcopy(dict(document.get("components", {})))
    for name in _FASTAPI_VALIDATION:
        components.get("schemas", {}).pop(name, None)
    return {"paths": paths, "components": components, "tags": copy.deepcopy(document.get("tags", []))}


def _renames(parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Renames]:
    """Per service, the components to prefix with its name: those another service defines differently.

    Repeated until stable, since renaming one schema changes the schemas that refer to it.
    """
    renames: dict[str, Renames] = {name: {} for name in parts}
    while True:
        seen: dict[tuple[str, str], list[tuple[str, str, Any]]] = {}
        for name, part in parts.items():
            for section, items in _rewrite_refs(part["components"], renames[name]).items():
                for key, value in items.items():
                    final = renames[name].get((section, key), key)
                    seen.setdefault((section, final), []).append((name, key, value))
        clashes = {at: owners for at, owners in seen.items() if any(v != owners[0][2] for *_, v in owners)}
        if not clashes:
            return renames
        for (section, final), owners in clashes.items():
            for owner, key, _ in owners:
                if (section, key) in renames[owner]:
                    raise ValueError(f"{section} {final!r} of {owner} clashes even after renaming")
                renames[owner][(section, key)] = owner[:1].upper() + owner[1:] + key


def _rewrite_refs(node: Any, renames: Renames) -> Any:
    """A copy of `node` whose `#/components/<section>/<name>` references follow `renames`."""
    if isinstance(node, dict):
        out = {key: _rewrite_refs(value, renames) for key, value in node.items()}
        ref = node.get("$ref")
        if renames and isinstance(ref, str) and ref.startswith("#/components/"):
            section, _, rest = ref.removeprefix("#/components/").partition("/")
            key, slash, tail = rest.partition("/")
            if (section, key) in renames:
                out["$ref"] = f"#/components/{section}/{renames[section, key]}{slash}{tail}"
        return out
    if isinstance(node, list):
        return [_rewrite_refs(value, renames) for value in node]
    return node


def _add_gateway_responses(path_item: dict[str, Any]) -> None:
    for method, operation in path_item.items():
        if method not in _METHODS:
            continue
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if path_item.get("parameters") or operation.get("parameters") or operation.get("requestBody"):
            _error_response(responses, "400", "Invalid request; `details` names each invalid field", ())
        if operation.get("requestBody"):
            _error_response(responses, "413", "Request body too large", ())
        for status, (description, headers) in _GATEWAY_RESPONSES.items():
            _error_response(responses, status, description, headers)
        for response in responses.values():
            if "$ref" not in response:
                headers_of = response.setdefault("headers", {})
                headers_of.setdefault(_REQUEST_ID, {"$ref": f"#/components/headers/{_REQUEST_ID}"})


def _error_response(responses: dict[str, Any], status: str, description: str, headers: Sequence[str]) -> None:
    """Documents `status` with the envelope; a service's own description of it is kept."""
    response = responses.setdefault(status, {"description": description})
    if "$ref" in response:
        return
    if not response.get("content"):
        response["content"] = copy.deepcopy(_ERROR_CONTENT)
    for header in headers:
        response.setdefault("headers", {}).setdefault(header, dict(_HEADERS[header]))
