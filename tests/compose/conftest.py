"""Fixtures of the compose suite (`make test-compose`): one stack for the module, and a client of
it through nginx. Its tests carry the `compose` marker, which plain `pytest` deselects (addopts)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.compose.stack import ComposeStack
from tests.integration.system import free_port_block


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ComposeStack]:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode
    ):
        pytest.fail("needs docker and docker compose; without an engine: ../shared/tools/with-compose")
    stack = ComposeStack(tmp_path_factory.mktemp("compose"), free_port_block(1))
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
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30, limits=limits) as c:
        yield c
