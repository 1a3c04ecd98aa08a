"""The house app factory: every error, even an unexpected one, is the envelope with the request id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI

from shared.app import create_service_app
from shared.errors import Conflict

router = APIRouter()


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("Already there", details=[{"id": "1"}])


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


async def call(path: str, **headers: str) -> httpx.Response:
    app = create_service_app(title="t", lifespan=lifespan, routers=[router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_an_unexpected_error_is_a_500_envelope_with_the_request_id_and_no_internals() -> None:
    response = await call("/boom", **{"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    assert response.json() == {"error": "Internal server error", "request_id": "req-500"}
    assert "secret" not in response.text


async def test_a_domain_error_renders_its_status_message_and_details() -> None:
    response = await call("/conflict", **{"X-Request-ID": "req-409"})

    assert response.status_code == 409
    assert response.json() == {"error": "Already there", "details": [{"id": "1"}], "request_id": "req-409"}


async def test_unknown_routes_and_methods_use_the_envelope() -> None:
    assert (await call("/nowhere")).json()["error"] == "Not found"
    app = create_service_app(title="t", lifespan=lifespan, routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/conflict")
    assert response.status_code == 405
    assert response.json()["error"] == "Method not allowed"
