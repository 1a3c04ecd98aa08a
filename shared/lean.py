"""Lean routes: the hottest calls answered in pure ASGI, past FastAPI's routing, dependency solving
and response handling, which were a quarter of a service's CPU per request (bench/notes.md).

A lean route sits innermost among the middleware (`create_service_app(middleware=...)`), so the
request context (id, trace, metrics, access line), admission and the internal signature have run
before it, as for every route. It takes one method and one path template; what it does not match
goes on to FastAPI, where its declared twin gives the API description and serves nothing else.
It answers as the twin would: the caller's role checked (401 without a principal, 403 without the
role), domain errors in the envelope, the route template and the caller's subject left for the
access line and metrics."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.asgi import reply
from shared.errors import AppError, Forbidden, Unauthorized, error_body
from shared.principal import ROLES_HEADER, SUBJECT_HEADER, Principal

# The path parameters and the app's state; the status and the JSON body to answer.
Handler = Callable[[dict[str, str], object], Awaitable[tuple[int, bytes]]]

_SUBJECT, _ROLES = SUBJECT_HEADER.encode(), ROLES_HEADER.encode()
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class LeanRoute:
    """`handler` answers `method` on `template` (`{name}` matches one path segment, as Starlette's
    `str` convertor does); with `role`, only a caller holding it."""

    method: str
    template: str
    handler: Handler
    role: str | None = None
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
                if scope["method"] == route.method and (found := route.pattern.fullmatch(scope["path"])):
                    await self._answer(route, found.groupdict(), scope, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, route: LeanRoute, params: dict[str, str], scope: Scope, send: Send) -> None:
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
            status, body = await route.handler(params, scope["app"].state)
        except AppError as exc:
            state["error"] = exc.message
            headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            await reply(send, exc.status, error_body(exc.message, exc.details, exc.extra), headers)
            return
        await reply(send, status, body)


def _principal(scope: Scope) -> Principal | None:
    subject = roles = None
    for name, value in scope["headers"]:
        if name == _SUBJECT:
            subject = value.decode("latin-1")
        elif name == _ROLES:
            roles = value.decode("latin-1")
    return Principal.from_headers(subject, roles)
