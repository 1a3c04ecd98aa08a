"""A lean route answers exactly as its FastAPI twin does: the same statuses, envelopes, headers and
access-log fields, for a success, a domain error, a caller missing or short of the role; and what
it does not match (another method, a longer path) goes on to FastAPI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel, Field
from starlette.middleware import Middleware

from shared.app import create_service_app
from shared.errors import Conflict, NotFound, ServiceUnavailable
from shared.lean import Headers, LeanCall, LeanRoute, LeanRoutes
from shared.logs import access_log
from shared.principal import ROLES_HEADER, SUBJECT_HEADER
from shared.web import Staff

TWIN_CALLS: list[str] = []


async def find(thing_id: str) -> bytes:
    if thing_id == "missing":
        raise NotFound("No such thing")
    if thing_id == "busy":
        raise ServiceUnavailable("Too busy", retry_after=7, extra={"thing_id": thing_id})
    if thing_id == "taken":
        raise Conflict("Taken", details=[{"field": "id", "message": "in use"}])
    return orjson.dumps({"id": thing_id})


router = APIRouter()


@router.get("/things/{thing_id}")
async def twin(thing_id: str, _: Staff) -> Response:
    TWIN_CALLS.append(thing_id)
    return Response(await find(thing_id), media_type="application/json")


class ThingIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=5)]
    count: int = 1


@router.post("/things/{thing_id}")
async def twin_post(thing_id: str, body: ThingIn, _: Staff) -> Response:
    return Response(orjson.dumps({"id": thing_id, **body.model_dump()}), media_type="application/json")


@router.get("/things/{thing_id}/parts")
async def parts(thing_id: str, _: Staff) -> dict[str, str]:
    return {"parts_of": thing_id}


async def lean_find(call: LeanCall) -> tuple[int, bytes, Headers]:
    return 200, await find(call.params["thing_id"]), []


async def lean_post(call: LeanCall) -> tuple[int, bytes, Headers]:
    return 200, orjson.dumps({"id": call.params["thing_id"], **call.body.model_dump()}), []


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def build(lean: bool) -> FastAPI:
    routes = [
        LeanRoute("GET", "/things/{thing_id}", lean_find, role="staff"),
        LeanRoute("POST", "/things/{thing_id}", lean_post, role="staff", body=ThingIn),
    ]
    middleware = [Middleware(LeanRoutes, routes=routes)] if lean else []
    return create_service_app(
        title="t", lifespan=lifespan, routers=[router], middleware=middleware, internal_secret=None
    )


STAFF = {SUBJECT_HEADER: "st%C3%A9phane", ROLES_HEADER: "staff"}
CUSTOMER = {SUBJECT_HEADER: "cust_1", ROLES_HEADER: "customer"}
AS_JSON = {**STAFF, "Content-Type": "application/json"}
REQUESTS = [
    ("GET", "/things/42", STAFF),
    ("GET", "/things/missing", STAFF),
    ("GET", "/things/busy", STAFF),
    ("GET", "/things/taken", STAFF),
    ("GET", "/things/42", CUSTOMER),
    ("GET", "/things/42", {}),
    ("GET", "/things/42/parts", STAFF),
    ("DELETE", "/things/42", STAFF),
    ("GET", "/things/", STAFF),
    ("POST", "/things/7", {**AS_JSON, "body": '{"name": "cog"}'}),
    ("POST", "/things/7", {**AS_JSON, "body": ""}),
    ("POST", "/things/7", {**AS_JSON, "body": '{"name": '}),
    (
        "POST",
        "/things/7",
        {**AS_JSON, "body": '{"name": "", "count": "x"}'},
    ),
    ("POST", "/things/7", {**AS_JSON, "body": "[1, 2]"}),
    ("POST", "/things/7", {**STAFF, "Content-Type": "text/plain", "body": '{"name": "cog"}'}),
    (
        "POST",
        "/things/7",
        {**AS_JSON, "body": '{"name": "x", "count": NaN}'},
    ),
    ("POST", "/things/7", {**AS_JSON, "body": "[" * 100_000}),
    ("POST", "/things/7", {**AS_JSON, "body": "null"}),
    ("POST", "/things/7", {**STAFF, "body": '{"name": "cog"}'}),
    ("POST", "/things/7", {**CUSTOMER, "Content-Type": "application/json", "body": '{"name": "cog"}'}),
]


async def answer(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> tuple[Any, ...]:
    headers = dict(headers)
    content = headers.pop("body", "").encode()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.request(
            method, path, content=content, headers={**headers, "X-Request-ID": "req-1"}
        )
    kept = ("content-type", "content-length", "retry-after", "allow", "x-request-id")
    return response.status_code, response.json(), {k: response.headers.get(k) for k in kept}


@pytest.mark.parametrize(("method", "path", "headers"), REQUESTS)
async def test_a_lean_route_answers_as_its_twin(method: str, path: str, headers: dict[str, str]) -> None:
    assert await answer(build(lean=True), method, path, headers) == await answer(
        build(lean=False), method, path, headers
    )


async def test_the_lean_route_serves_what_it_matches_and_leaves_the_twin_alone() -> None:
    TWIN_CALLS.clear()
    status, body, _ = await answer(build(lean=True), "GET", "/things/42", STAFF)

    assert (status, body) == (200, {"id": "42"})
    assert TWIN_CALLS == []
    await answer(build(lean=False), "GET", "/things/42", STAFF)
    assert TWIN_CALLS == ["42"]


async def test_the_access_line_names_the_route_the_caller_and_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=access_log.name):
        await answer(build(lean=True), "GET", "/things/missing", STAFF)

    (line,) = [r for r in caplog.records if r.name == access_log.name]
    assert (line.route, line.status, line.subject, line.error) == (  # type: ignore[attr-defined]
        "/things/{thing_id}",
        404,
        "stéphane",
        "No such thing",
    )
