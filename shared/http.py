"""Outbound HTTP between services: one pooled httpx client per upstream, errors mapped to 503/504."""

from __future__ import annotations

from typing import Any

import httpx

from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.settings import ServiceSettings


async def _stamp_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id:
        request.headers[REQUEST_ID_HEADER] = request_id


def make_client(base_url: str, settings: ServiceSettings) -> httpx.AsyncClient:
    """A client for one upstream; it carries the current request id on every call."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
        # Shorter than the services' keep-alive (75 s), so a pooled connection is never reused
        # just as the server closes it.
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30),
        event_hooks={"request": [_stamp_request_id]},
    )


class Upstream:
    """A named upstream service; `call` turns transport failures into the contract's 503/504."""

    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self.client = client

    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            return await self.client.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {self.name} service did not answer in time") from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"The {self.name} service is unavailable") from exc

    async def ready(self) -> None:
        response = await self.client.get("/healthz", timeout=1.0)
        response.raise_for_status()

    async def aclose(self) -> None:
        await self.client.aclose()
