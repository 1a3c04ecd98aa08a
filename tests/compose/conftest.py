"""Fixtures of the compose suite (`make test-compose`): one stack for the session (its modules run in
name order and share it), and a client of it through nginx over HTTPS, verified against the run's
CA. Its tests carry the `compose` marker, which plain `pytest` deselects (addopts)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devtools.system import free_port_block
from tests.compose.stack import ComposeStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ComposeStack]:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode
    ):
        pytest.fail("needs docker and docker compose; without an engine: ../shared/tools/with-compose")
    port = free_port_block(2)
    stack = ComposeStack(tmp_path_factory.mktemp("compose"), https_port=port, http_port=port + 1)
    failed_before = request.session.testsfailed
    try:
        stack.up()
        yield stack
    finally:
        if request.session.testsfailed > failed_before:  # what the containers said, uncaptured
            with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
                stack.dump()
        stack.down()


@pytest.fixture
async def client(stack: ComposeStack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with stack.trusting_client(headers=headers, timeout=30, limits=limits) as c:
        yield c
