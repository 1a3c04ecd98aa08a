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

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class LeanCall:
    """What a lean route's handler is given."""

    scope: Scope
    params: dict[str, str]  # the path's parameters
    principal: Principal | None  # the caller (with the route's role), None for a route without one
    body: Any = None  # the body its model validated (None without a body model)
    raw: bytes = b""  # the body's bytes

    @property
    def state(self) -> Any:
        """The app's state: where `create_app` left the store and the clients."""
        return self.scope["app"].state

    def header(self, name: bytes) -> bytes | None:
        """The request's first header `name` (lower case), if any."""
        return next((value for key, value in self.scope["headers"] if key == name), None)


# The status, the JSON body and any more headers to answer.
Handler = Callable[[LeanCall], Awaitable[tuple[int, bytes, Headers]]]

_SUBJECT, _ROLES, _TYPE = SUBJECT_HEADER.encode(), ROLES_HEADER.encode(), b"content-type"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class LeanRoute:
    """`handler` answers `method` on `template` (`{name}` matches one path segment, as Starlette's
    `str` convertor does); with `role`, only a caller holding it; with `body`, a JSON body this
    model validates (a request whose content type is not JSON is left to the twin); `takes`
    may leave other requests to the twin too (those whose answer it would word otherwise)."""

    method: str
    template: str
    handler: Handler
    role: str | None = None
    body: type[BaseModel] | None = None
    takes: Callable[[Scope], bool] | None = None
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
                    and (route.takes is None or route.takes(scope))
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
            principal = None
            if route.role is not None:
                principal = _principal(scope)
                if principal is None:
                    raise Unauthorized()
                state["subject"] = principal.subject
                if not principal.has_role(route.role):
                    raise Forbidden()
            call = LeanCall(scope, params, principal)
            if route.body is not None:
                raw = await read_body(receive) or b""
                call = LeanCall(scope, params, principal, _validated(route.body, raw), raw)
            status, body, headers = await route.handler(call)
        except AppError as exc:
            state["error"] = exc.message
            headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            await reply(send, exc.status, error_body(exc.message, exc.details, exc.extra), headers)
            return
        except Disconnected:
            return  # the client went away before its whole body arrived: nothing to act on or answer
        await reply(send, status, body, headers)


def _says_json(scope: Scope) -> bool:
    """Whether the request's content type is JSON (FastAPI reads no other body as JSON)."""
    for name, value in scope["headers"]:
        if name == _TYPE:
            media_type: bytes = value.split(b";")[0].strip().lower()
            return media_type == b"application/json" or (
                media_type.startswith(b"application/") and media_type.endswith(b"+json")
            )
    return False


def _validated(model: type[BaseModel], raw: bytes) -> BaseModel:
    """The body as FastAPI's twin would take it: 400 with the same details when it is not."""
    if not raw:
        raise BadRequest(details=[{"field": "body", "message": "Field required"}])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = _parsed_as_fastapi_would(raw)
    try:
        return model.model_validate(data, from_attributes=True)  # FastAPI's mode, for its messages
    except ValidationError as exc:
        raise BadRequest(details=validation_details(exc.errors())) from None


def _parsed_as_fastapi_would(raw: bytes) -> Any:
    """What orjson refused, through the standard library as FastAPI parses it: what it takes (NaN,
    say), its message for what it cannot decode, and no details for a body it cannot parse at all
    (bytes that are not UTF-8, nesting past the recursion limit)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(details=[{"field": "body", "message": f"Invalid JSON: {exc.msg}"}]) from None
    except Exception:
        raise BadRequest() from None


def _principal(scope: Scope) -> Principal | None:
    subject = roles = None
    for name, value in scope["headers"]:
        if name == _SUBJECT:
            subject = value.decode("latin-1")
        elif name == _ROLES:
            roles = value.decode("latin-1")
    return Principal.from_headers(subject, roles)
