"""Upstream instances for unit tests: httpx clients on a `MockTransport`, so no socket is opened."""

from __future__ import annotations

import httpx


def instance(
    name: str, seen: list[str] | None = None, fault: type[Exception] | None = None, status: int = 200
) -> httpx.AsyncClient:
    """An instance at http://<name> that notes its name in `seen` on every request, then raises
    `fault` (an httpx transport error) or answers `status` with {"instance": name}."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(name)
        if fault is not None:
            raise fault("injected", request=request)  # type: ignore[call-arg]
        return httpx.Response(status, json={"instance": name})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=f"http://{name}")


def refusing(name: str) -> httpx.AsyncClient:
    """An instance nobody listens at: every connection is refused."""
    return instance(name, fault=httpx.ConnectError)
