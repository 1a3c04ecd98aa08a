"""The fault suite runs on the end-to-end tests' real systems: the same fixtures, and a redis-server
of a test's own, to stop and start again."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import client, pytest_runtest_makereport, system
from tests.helpers import RedisServer

__all__ = ["client", "own_redis", "pytest_runtest_makereport", "system"]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A durable redis-server of this test's own, which the test may stop and start."""
    server = RedisServer(tmp_path / "redis", durable=True)
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
