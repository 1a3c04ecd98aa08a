"""A real redis-server for tests (devtools.redis_server), on a free loopback port.

CI (CI=true) must have redis-server: a missing binary fails there and skips elsewhere, saying why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devtools import redis_server


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class RedisServer(redis_server.RedisServer):
    """devtools' RedisServer, skipping (failing in CI) the test when redis-server is missing."""

    def __init__(self, directory: Path, *, durable: bool = False) -> None:
        super().__init__(directory, durable=durable, binary=require_binary("redis-server", "redis-server"))
