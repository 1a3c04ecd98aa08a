"""Lean routes: the hottest calls answered in pure ASGI, past FastAPI's routing, dependency solving
and response handling, which were a quarter of a service's CPU per request (bench/notes.md).

A lean route sits innermost among the middleware (`create_service_app(middleware=...)`), so the
request context (id, trace, metrics, access line), admission and the internal signature have run
before it, as for every route. It takes one method and one path template; what it does not match
goes on to FastAPI, where its declared twin gives the API description and serves nothing else.
It answers as the twin would: the caller's role checked (401 without a principal, 403 without the
role), a JSON body validated by the same model (400 with the same details), domain errors in the
envelope, the route template and the caller's subject left for the access line and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.asgi import Disconnected, read_body, reply
from shared.errors import AppError, BadRequest, Forbidden, Unauthorized, error_body, validation_details
from shared.principal import ROLES_HEADER, SUBJECT_HEADER, Principal

# The path parameters, the app's state and the validated body (None without a body model); the
# status and the JSON body to answer.
Handler = Callable[[dict[str, str], Any, Any], Awaitable[tuple[int, bytes]]]

_SUBJECT, _ROLES, _TYPE = SUBJECT_HEADER.encode(), ROLES_HEADER.encode(), b"content-type"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class LeanRoute:
    """`handler` answers `method` on `template` (`{name}` matches one path segment, as Starlette's
    `str` convertor does); with `role`, only a caller holding it; with `body`, a JSON body this
    model validates (a request whose content type is not JSON is left to the twin)."""

    method: str
    template: str
    handler: Handler
    role: str | None = None
    body: type[BaseModel] | None = None
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.template)  # text, name, text, name, ..., text
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        object.__setattr__(self, "pattern", re.compile(regex))


class LeanRoutes:
    """Pure ASGI: answers the requests a lean route matches, passes on the rest."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[LeanRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                if (
                    scope["method"] == route.method
                    and (found := route.pattern.fullmatch(scope["path"]))
                    and (route.body is None or _says_json(scope))
                ):
                    await self._answer(route, found.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, route: LeanRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route_template"] = route.template
        state = scope.setdefault("state", {})
        try:
            if route.role is not None:
                principal = _principal(scope)
                if principal is None:
                    raise Unauthorized()
                state["subject"] = principal.subject
                if not principal.has_role(route.role):
                    raise Forbidden()
            model = None if route.body is None else _validated(route.body, await read_body(receive))
            status, body = await route.handler(params, scope["app"].state, model)
        except AppError as exc:
            state["error"] = exc.message
            headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            await reply(send, exc.status, error_body(exc.message, exc.details, exc.extra), headers)
            return
        except Disconnected:
            return  # the client went away before its whole body arrived: nothing to act on or answer
        await reply(send, status, body)


def _says_json(scope: Scope) -> bool:
    """Whether the request's content type is JSON (FastAPI reads no other body as JSON)."""
    for name, value in scope["headers"]:
        if name == _TYPE:
            media_type: bytes = value.split(b";")[0].strip().lower()
            return media_type == b"application/json" or (
                media_type.startswith(b"application/") and media_type.endswith(b"+json")
            )
    return False


def _validated(model: type[BaseModel], raw: bytes | None) -> BaseModel:
    """The body as FastAPI's twin would take it: 400 with the same details when it is not."""
    if not raw:
        raise BadRequest(details=[{"field": "body", "message": "Field required"}])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(
            details=[{"field": "body", "message": f"Invalid JSON: {_json_problem(raw)}"}]
        ) from None
    try:
        return model.model_validate(data, from_attributes=True)  # FastAPI's mode, for its messages
    except ValidationError as exc:
        raise BadRequest(details=validation_details(exc.errors())) from None


def _json_problem(raw: bytes) -> str:
    """What FastAPI's parser (the standard library's) says of a body that is not JSON."""
    try:
        json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    return "Invalid JSON"


def _principal(scope: Scope) -> Principal | None:
    subject = roles = None
    for name, value in scope["headers"]:
        if name == _SUBJECT:
            subject = value.decode("latin-1")
        elif name == _ROLES:
            roles = value.decode("latin-1")
    return Principal.from_headers(subject, roles)
