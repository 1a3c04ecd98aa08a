"""The API description and Swagger UI on the real system: complete, open without a token, and
readable in a real (headless) browser with no network but loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.system import LocalSystem

PREFIXES = {"inventory": "/api/books", "sales": "/api/orders", "delivery": "/api/deliveries"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT = 60


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method) for path, item in document["paths"].items() for method in item if method in METHODS
    }


async def test_the_description_needs_no_token_and_holds_every_operation_the_services_serve(
    system: LocalSystem,
) -> None:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        response = await anonymous.get(system.url + "/openapi.json")
        own = {
            name: (
                await anonymous.get(
                    system.service_url(name) + "/openapi.json", headers=system.signed("GET", "/openapi.json")
                )
            ).json()
            for name in PREFIXES
        }

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Bookstore API"
    served = set().union(*(operations(doc) for doc in own.values()))
    assert operations(document) == served
    for name, prefix in PREFIXES.items():
        assert any(path.startswith(prefix) for path, _ in operations(own[name])), f"{name} serves nothing"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    assert "HTTPValidationError" not in response.text
    assert not any(path.startswith("/internal") for path in document["paths"])


async def test_the_description_is_503_naming_a_service_that_is_down_then_complete_and_cached(
    system: LocalSystem,
) -> None:
    system.stop("delivery")  # before the gateway's first request for the description
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as anonymous:
        down = await anonymous.get("/openapi.json")
        system.start("delivery")
        # A failure is remembered for GATEWAY_PUBLIC_CACHE_SECONDS (1 s): the crowd asking while a
        # service is down costs it one call a second. Past that the description is whole again.
        deadline = time.monotonic() + 10
        back = await anonymous.get("/openapi.json")
        while back.status_code == 503 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            back = await anonymous.get("/openapi.json")
        system.stop("sales")
        cached = await anonymous.get("/openapi.json")

    assert down.status_code == 503, down.text
    assert down.headers["retry-after"]
    body = down.json()
    assert "delivery" in body["error"]
    assert body["request_id"] == down.headers["x-request-id"]
    assert back.status_code == 200, back.text
    assert any(path.startswith("/api/deliveries") for path in back.json()["paths"])
    assert cached.status_code == 200
    assert cached.json() == back.json()


async def test_the_docs_page_loads_swagger_ui_from_the_gateway_itself(system: LocalSystem) -> None:
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as anonymous:
        page = await anonymous.get("/docs")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        loaded = {url: await anonymous.get(url) for url in assets}

    assert not re.search(r"https?:|//[a-z]", html, re.IGNORECASE), "the page names an outside address"
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)
    assert any(url.endswith("swagger-ui.css") for url in assets)
    for url, response in loaded.items():
        assert url.startswith("/docs/assets/"), url
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url
    assert "'/openapi.json'" in html
    assert '"persistAuthorization": true' in html


def chromium_or_skip() -> str:
    """The browser; missing, it skips a developer's run but fails CI, which must install it."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"chromium not installed at {CHROMIUM}: CI must `apt-get install -y chromium`")
    pytest.skip("chromium not installed: apt-get install chromium")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium that can reach loopback only, stopped with all its children by its group."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Any name but 127.0.0.1 fails to resolve: the page must render with no outside fetch.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT}s")
    finally:
        _kill_group(process)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """The browser's renderer and helper processes live in the group it leads (start_new_session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_real_browser_renders_every_operation_and_the_authorize_button(
    system: LocalSystem, tmp_path: Path
) -> None:
    chromium = chromium_or_skip()
    document = httpx.get(system.url + "/openapi.json", timeout=30).json()

    rendered = run_chromium(chromium, tmp_path / "dom", "--dump-dom", system.url + "/docs")
    shot = tmp_path / "docs.png"
    captured = run_chromium(
        chromium, tmp_path / "shot", "--window-size=1280,1600", f"--screenshot={shot}", system.url + "/docs"
    )

    dom = rendered.stdout.decode()
    assert rendered.returncode == 0, rendered.stderr.decode()[-2000:]
    assert 'class="title">Bookstore API' in dom, dom[:2000]
    for path in document["paths"]:
        assert f'data-path="{path}"' in dom, f"{path} not rendered"
    for path in ("/api/books/{book_id}", "/api/orders", "/api/deliveries"):
        assert f'data-path="{path}"' in dom
    assert "<span>Authorize</span>" in dom
    assert "errors-wrapper" not in dom, "Swagger UI reported errors in the description"
    assert captured.returncode == 0, captured.stderr.decode()[-2000:]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 1280
    assert len(png) > 30_000, "the screenshot is nearly blank"
