"""Fixtures of the Kubernetes suite (`make test-k8s`): the dev overlay played once for the session by
podman, and a client of its gateway. Its tests carry the `k8s` marker, which plain `pytest`
deselects (addopts)."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devtools.system import free_port_block
from tests.k8s.played import PlayedOverlay

READY_WITHIN = 180  # seconds from `kube play` to a gateway whose /readyz sees every service


def wait_ready(played: PlayedOverlay) -> None:
    deadline = time.monotonic() + READY_WITHIN
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(played.url + "/readyz", timeout=3)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise RuntimeError(f"the gateway was not ready within {READY_WITHIN} s: {last}")


@pytest.fixture(scope="session")
def played(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[PlayedOverlay]:
    if shutil.which("podman") is None:
        pytest.fail("needs podman; on a machine without it: ../shared/tools/with-compose make test-k8s")
    played = PlayedOverlay(tmp_path_factory.mktemp("k8s"), free_port_block(1))
    failed_before = request.session.testsfailed
    try:
        played.up()
        wait_ready(played)
        yield played
    except BaseException:
        played.dump()
        raise
    finally:
        if request.session.testsfailed > failed_before:
            with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
                played.dump()
        played.down()


@pytest.fixture
async def client(played: PlayedOverlay) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {played.token}"}
    async with httpx.AsyncClient(base_url=played.url, headers=headers, timeout=30) as c:
        yield c
