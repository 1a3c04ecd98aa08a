"""The gateway in-process, in front of fake instances (no socket): how every unit test of it runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.http import Instances
from tests.unit.fake_instances import refusing

SERVICES = ("inventory", "sales", "delivery")


@asynccontextmanager
async def running_gateway(
    settings: GatewaySettings | None = None, *, headers: dict[str, str] | None = None, **services: Instances
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway (sending `headers`, e.g. a token), started with `settings`; a service
    not given in `services` refuses every connection."""
    instances = {name: services.get(name) or refusing(name) for name in SERVICES}
    app = create_app(settings or GatewaySettings(), **instances)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers) as c:
            yield c
