"""The docker compose stack of the repository (docker-compose.yml) under a project name of its own,
driven through the `docker compose` CLI: built, started with --wait, and always taken down with its
volumes and images. Its only published ports are nginx's, HTTPS and HTTP, on 127.0.0.1, with a
certificate from `make certs`' script (deploy/certs.py) made for the run."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BUILT = ("gateway", "inventory", "sales", "delivery")
# Who calls whom inside the stack, by compose name: what `wait_connected` checks from each container.
CALLS = {
    "gateway-1": ("inventory:8001", "sales:8002", "delivery:8003", "redis-gateway:6379"),
    "gateway-2": ("inventory:8001", "sales:8002", "delivery:8003", "redis-gateway:6379"),
    "inventory": ("redis-inventory:6379",),
    "sales": ("redis-sales:6379", "inventory:8001"),
    "delivery": ("redis-delivery:6379", "sales:8002"),
}
_CONNECT = (
    "import socket, sys\n"
    "for target in sys.argv[1:]:\n"
    "    host, port = target.split(':')\n"
    "    socket.create_connection((host, int(port)), 1).close()\n"
)


class ComposeStack:
    """One running copy of the stack: `up()`, then `url`, `token` and the compose verbs below."""

    def __init__(self, workdir: Path, https_port: int, http_port: int) -> None:
        self.project = f"bookstore-test-{uuid.uuid4().hex[:10]}"
        self.https_port, self.http_port = https_port, http_port
        self.certs = workdir / "certs"
        subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "certs.py"), "--out", str(self.certs)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.token = secrets.token_urlsafe(32)
        tokens = workdir / "tokens.json"
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        tokens.write_text(json.dumps([{"subject": "ops_test", "roles": ["admin"], "token_sha256": digest}]))
        tokens.chmod(0o644)  # the images' user (uid 10001) reads it through the bind mount
        self.env = {
            **os.environ,
            "INTERNAL_SECRET": secrets.token_hex(32),
            "TOKENS_FILE": str(tokens),
            "TLS_CERT_FILE": str(self.certs / "tls.crt"),
            "TLS_KEY_FILE": str(self.certs / "tls.key"),
            "HTTP_ADDRESS": "127.0.0.1",
            "HTTPS_PORT": str(https_port),
            "HTTP_PORT": str(http_port),
            "BOOKSTORE_TAG": self.project,  # images of this run only, removed by down()
            "HEALTHCHECK_INTERVAL": "3s",
        }

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def trusting_client(self, **options: Any) -> httpx.AsyncClient:
        """A client that verifies nginx's certificate against the run's CA, and trusts nothing else."""
        trust = ssl.create_default_context(cafile=self.certs / "ca.crt")
        return httpx.AsyncClient(base_url=self.url, verify=trust, **options)

    def compose(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        command = ["docker", "compose", "--project-directory", str(ROOT), "-p", self.project, *args]
        result = subprocess.run(
            command, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command[2:])} exited {result.returncode}:\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def up(self) -> None:
        try:
            self.compose("up", "--detach", "--build", "--wait", "--wait-timeout", "300", timeout=1200)
            self.wait_connected()
        except (RuntimeError, subprocess.TimeoutExpired):
            self.dump()
            raise

    def wait_connected(self, services: tuple[str, ...] = tuple(CALLS), within: float = 90) -> None:
        """Until each container resolves and reaches what it calls, twice in a row: a healthy container
        only says it listens, and a container network that the engine reconfigured a moment ago
        (a container started or stopped beside it) may not carry every connection yet."""
        deadline = time.monotonic() + within
        for service in services:
            streak = 0
            while streak < 2:
                result = self.exec(service, 'python -c "$0" "$@"', _CONNECT, *CALLS[service])
                streak = streak + 1 if result.returncode == 0 else 0
                if streak == 0 and time.monotonic() > deadline:
                    raise RuntimeError(f"{service} cannot reach {CALLS[service]}: {result.stderr[-500:]}")
                time.sleep(0.5)

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--no-log-prefix", service)

    def stop(self, service: str) -> None:
        self.compose("stop", "--timeout", "20", service)

    def restart(self, service: str) -> None:
        self.compose("restart", "--timeout", "20", service)

    def recreate(self, *services: str) -> None:
        """New containers for `services` (named volumes stay), waited for until healthy."""
        self.compose("up", "--detach", "--no-deps", "--force-recreate", "--wait", *services, timeout=180)

    def exec(self, service: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "--project-directory", str(ROOT), "-p", self.project]
        command += ["exec", "-T", service, "sh", "-c", script, *args]
        return subprocess.run(command, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120)

    def dump(self) -> None:
        """What went wrong in each container (warnings, errors, 5xx), for a failed start or test."""
        print(self.compose("ps", "--all", check=False), file=sys.stderr)
        for service in self.compose("config", "--services", check=False).split():
            lines = self.compose("logs", "--no-color", "--no-log-prefix", service, check=False).splitlines()
            notable = [line for line in lines if not re.search(r'"level":"info"|"status":[1-4]', line)]
            print(f"----- {service}: {len(lines)} lines, the notable ones -----", file=sys.stderr)
            print("\n".join(line[:600] for line in notable[-30:]), file=sys.stderr)

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300, check=False)
        images = [f"{os.environ.get('BOOKSTORE_IMAGE', 'bookstore')}-{name}:{self.project}" for name in BUILT]
        subprocess.run(["docker", "image", "rm", *images], capture_output=True, timeout=120, check=False)
