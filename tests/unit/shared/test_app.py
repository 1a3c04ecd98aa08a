"""The house app factory: every error, even an unexpected one, is the envelope with the request id;
an internal app must be given its secret, and every service gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from delivery_service.app import create_app as delivery_app
from delivery_service.settings import DeliverySettings
from inventory_service.app import create_app as inventory_app
from inventory_service.settings import InventorySettings
from sales_service.app import create_app as sales_app
from sales_service.settings import SalesSettings
from shared.app import create_service_app
from shared.errors import Conflict
from shared.internal import HEADER, sign
from shared.principal import ROLES_HEADER, SUBJECT_HEADER

SECRET = "s3cret"

router = APIRouter()


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("Already there", details=[{"id": "1"}])


@router.delete("/conflict")
async def remove() -> None:
    return None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


async def call(path: str, **headers: str) -> httpx.Response:
    app = create_service_app(title="t", lifespan=lifespan, routers=[router], internal_secret=None)
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
    app = create_service_app(title="t", lifespan=lifespan, routers=[router], internal_secret=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/conflict")
        slash = await client.get("/conflict/")
    assert response.status_code == 405
    assert response.json()["error"] == "Method not allowed"
    assert response.headers["allow"] == "DELETE, GET"  # every route's at the path, not the first's
    assert slash.status_code == 404  # no redirect to the slashless path (it would name this host)
    assert "location" not in slash.headers


def test_an_internal_app_not_given_its_secret_fails_to_build() -> None:
    with pytest.raises(TypeError, match="internal_secret"):
        create_service_app(title="t", lifespan=lifespan, routers=[router])


SERVICES: dict[str, tuple[Callable[[], FastAPI], str]] = {
    "inventory": (
        lambda: inventory_app(InventorySettings(store="memory", internal_secret=SECRET)),
        "/api/books",
    ),
    "sales": (lambda: sales_app(SalesSettings(store="memory", internal_secret=SECRET)), "/api/orders"),
    "delivery": (
        lambda: delivery_app(DeliverySettings(store="memory", internal_secret=SECRET)),
        "/api/deliveries",
    ),
}


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_wires_its_internal_secret(service: str) -> None:
    build, path = SERVICES[service]
    app = build()
    principal = {SUBJECT_HEADER: "staff_1", ROLES_HEADER: "staff"}
    signed = {**principal, HEADER: sign(SECRET, "GET", path, "staff_1", "staff")}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        unsigned = await client.get(path, headers=principal)
        answered = await client.get(path, headers=signed)

    assert unsigned.status_code == 401
    assert answered.status_code == 200
