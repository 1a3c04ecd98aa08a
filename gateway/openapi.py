"""The public API's description at /openapi.json, and Swagger UI to read and try it at /docs.
The original API's paths for both, /apispec.json and /api/docs, lead to the same, without a token.

The gateway imports no service code: it fetches each service's own /openapi.json through that
service's upstream on first use, merges them (`gateway.spec.merge`), and caches the result once it
is complete; an incomplete one is answered again for `retry_every` seconds before the services are
asked again, so a crowd asking while a service is down costs each service one call per period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from importlib import metadata, resources
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.routes import Route
from gateway.spec import merge
from shared.errors import AppError, ServiceUnavailable
from shared.memo import Memo

log = logging.getLogger("gateway.openapi")

ASSETS_URL = "/docs/assets"
SPEC_PATH = "/openapi.json"
ORIGINAL_DOCS_URL = "/api/docs"  # the original API's Swagger UI; under /api, where the proxy wants a token


def api_version() -> str:
    try:
        return metadata.version("bookstore")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class PublicSpec:
    """The merged description, fetched from the services on first use and cached once complete."""

    def __init__(self, routes: Sequence[Route], version: str, *, retry_every: float = 1.0) -> None:
        self._routes = routes
        self._version = version
        self._body: bytes | None = None
        self._built = Memo(self._build, retry_every)  # concurrent first callers share one build

    async def body(self) -> bytes:
        if self._body is None:
            self._body = await self._built.get()
        return self._body

    async def _build(self) -> bytes:
        fetched = await asyncio.gather(*(self._fetch(route) for route in self._routes))
        named = {route.upstream.name: doc for route, doc in zip(self._routes, fetched, strict=True)}
        missing = [name for name, doc in named.items() if doc is None]
        if missing:  # never cached: the next request tries again
            names = ", ".join(missing)
            raise ServiceUnavailable(f"The API description is incomplete: no answer from {names}")
        documents = {name: doc for name, doc in named.items() if doc}
        prefixes = {route.upstream.name: route.prefix for route in self._routes}
        return orjson.dumps(merge(documents, prefixes, self._version))

    async def _fetch(self, route: Route) -> dict[str, Any] | None:
        """The service's own description (a signed call, as any between processes), or None."""
        name = route.upstream.name
        try:
            response = await route.upstream.call("GET", SPEC_PATH)
            document = response.json() if response.status_code < 400 else None
        except (AppError, ValueError) as exc:
            log.warning("no service description", extra={"upstream": name, "error": repr(exc)})
            return None
        if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
            status = response.status_code
            log.warning("service description malformed", extra={"upstream": name, "status": status})
            return None
        return document


def _public_spec(request: Request) -> PublicSpec:
    spec: PublicSpec = request.app.state.spec
    return spec


SpecDep = Annotated[PublicSpec, Depends(_public_spec)]
router = APIRouter(include_in_schema=False)


@router.get(SPEC_PATH)
@router.get("/apispec.json")  # the original API's path of its spec
async def openapi_json(spec: SpecDep) -> Response:
    return Response(await spec.body(), media_type="application/json")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{SPEC_PATH}",
        title="Bookstore API",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        # No validator badge: it would ask an outside service about our document.
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
    )


def swagger_assets() -> StaticFiles:
    """Swagger UI's JS and CSS from the installed fastapi-offline package: /docs needs no CDN."""
    return StaticFiles(directory=str(resources.files("fastapi_offline") / "static"))


class OriginalDocsRedirect:
    """Answers a GET or HEAD of exactly /api/docs with a redirect to /docs, before the proxy would
    take it for an API call and ask for a token; every other path goes on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == ORIGINAL_DOCS_URL
            and scope["method"] in ("GET", "HEAD")
        ):
            root = scope.get("root_path", "")
            await RedirectResponse(f"{root}/docs", status_code=308)(scope, receive, send)
            return
        await self.app(scope, receive, send)
