"""Fixtures of the end-to-end tests (and the fault suite): the whole system as `make run` starts it,
every service and the gateway a real process; each test gets its own system, data directory and ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from devtools.system import LocalSystem
from tests.helpers import RedisServer, user_client


@pytest.fixture
def system(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalSystem]:
    """The whole system on the JSON store; parametrized indirectly with "redis", two instances of
    every service on a flushed real Redis."""
    marker = request.node.get_closest_marker("system_env")
    env = marker.kwargs if marker else None
    if getattr(request, "param", "json") == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        redis.Redis.from_url(server.url).flushall()
        system = LocalSystem(tmp_path, env=env, store="redis", instances=2, redis_url=server.url)
    else:
        system = LocalSystem(tmp_path, env=env)
    try:
        system.start()
        yield system
    finally:
        system.close()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for name in system.specs:
            print(f"----- {name} log (tail) -----\n{system.log(name)[-3000:]}")


@pytest.fixture
async def client(system: LocalSystem) -> AsyncIterator[httpx.AsyncClient]:
    """A user's client of the system's gateway, with the development token."""
    async with user_client(system.url) as c:
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
