"""The original API's documentation paths on the gateway: /apispec.json is the description and
/api/docs leads to Swagger UI, both without a token, while every other /api path still needs one."""

from __future__ import annotations

import httpx
import pytest


async def test_apispec_json_is_the_same_description_as_openapi_json_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    original = await client.get("/apispec.json")
    current = await client.get("/openapi.json")
    # No service answers here, so both say which are missing: the same handler, not a 401 or 404.
    assert original.status_code == current.status_code == 503
    assert original.json()["error"] == current.json()["error"]
    assert "inventory" in original.json()["error"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_api_docs_redirects_to_swagger_ui_without_a_token(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/api/docs")
    assert response.status_code == 308
    assert response.headers["location"] == "/docs"
    assert response.headers["x-request-id"]


async def test_following_the_redirect_shows_swagger_ui(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs", follow_redirects=True)
    assert page.status_code == 200
    assert str(page.url) == "http://gateway/docs"
    assert "swagger-ui-bundle.js" in page.text


NOT_THE_DOCS = ["/api/docs/", "/api/docs/x", "/api/docsx", "/api/DOCS", "/api/apispec.json"]


@pytest.mark.parametrize("path", NOT_THE_DOCS)
async def test_only_the_exact_path_is_open_every_other_api_path_needs_a_token(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_other_methods_on_api_docs_need_a_token(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/api/docs")
    assert response.status_code == 401
