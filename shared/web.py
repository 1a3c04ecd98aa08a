"""FastAPI dependencies every service's routes use: the caller and its role, and paging.

Every dependency in the services is `async def`, even when it never awaits: FastAPI runs a plain
`def` dependency in a worker thread, and that hand-off was about a tenth of a service's CPU per request
(docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Header, Query, Request, Response

from shared.errors import Forbidden, Unauthorized
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.principal import ROLES_HEADER, SUBJECT_HEADER, Principal


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, who must hold `role` (401 without a principal, 403 without the role)."""

    async def dependency(request: Request) -> Principal:
        principal = Principal.from_headers(
            request.headers.get(SUBJECT_HEADER), request.headers.get(ROLES_HEADER)
        )
        if principal is None:
            raise Unauthorized()
        request.state.subject = principal.subject  # for the access log line
        if not principal.has_role(role):
            raise Forbidden()
        return principal

    return dependency


Caller = Annotated[Principal, Depends(require("customer"))]
Staff = Annotated[Principal, Depends(require("staff"))]
Admin = Annotated[Principal, Depends(require("admin"))]


@dataclass(frozen=True)
class PageRequest:
    """`limit` and the decoded `cursor` of a collection request."""

    limit: int
    after: int | None


async def _page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=64, description="From the previous page's Link rel=next")
    ] = None,
) -> PageRequest:
    return PageRequest(limit, decode_cursor(cursor))


Paging = Annotated[PageRequest, Depends(_page_request)]


def page_headers(request: Request, response: Response, page: Page[Any]) -> None:
    """X-Total-Count, and a relative `Link: <...>; rel="next"` (RFC 8288) when there is more."""
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_after is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", encode_cursor(page.next_after)))
        response.headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'


# Read by the route (shared.idempotency.request_key); declared on routes so the API description
# shows it.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry safely: the same key and body are answered from what the first request "
        "created, as it is now, and create nothing",
    ),
]
