"""A real local system for integration tests and the benchmark: every service and the gateway as its
own process on free loopback ports, started and stopped by PID through `devtools.launch` (the code
`make run` uses)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

from devtools.launch import (
    DEV_TOKEN,
    ProcessSpec,
    free_port_block,
    local_system,
    start,
    stop,
    wait_healthy,
)
from shared import internal

AUTH = {"Authorization": f"Bearer {DEV_TOKEN}"}


class LocalSystem:
    """Gateway, inventory, sales and delivery processes; each can be killed, frozen and restarted."""

    def __init__(
        self,
        root: Path,
        env: dict[str, str] | None = None,
        store: str = "json",
        *,
        instances: int = 1,
        redis_url: str | None = None,
    ) -> None:
        self.root = root
        self.env = {"PYTHONUNBUFFERED": "1", **(env or {})}
        self.port = free_port_block(4 + 10 * (instances - 1))
        specs = local_system(self.port, root / "data", store, instances=instances, redis_url=redis_url)
        self.specs = {s.name: s for s in specs}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_url(self, name: str) -> str:
        return self.specs[name].url

    def signed(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """The internal signature one call straight to a service needs (`path` with its query, the
        exact `body` sent), as a service would send it; each signature is good for one call."""
        secret = self.specs["gateway"].env["INTERNAL_SECRET"]
        return {internal.HEADER: internal.sign(secret, method, path, body=body)}

    def start(self, name: str | None = None) -> None:
        for spec in self.specs.values() if name is None else [self.specs[name]]:
            self._start(spec)

    def _start(self, spec: ProcessSpec) -> None:
        log = self._logs.get(spec.name) or open(self.root / f"{spec.name}.log", "ab")  # noqa: SIM115
        self._logs[spec.name] = log
        process = start(spec, env=self.env, output=log)
        self.processes[spec.name] = process
        wait_healthy(spec, process)

    def stop(self, name: str) -> int:
        return stop(self.processes[name])

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to flush or clean up."""
        process = self.processes[name]
        process.kill()
        process.wait()

    def freeze(self, name: str) -> None:
        os.kill(self.processes[name].pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        os.kill(self.processes[name].pid, signal.SIGCONT)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)  # a frozen process cannot handle SIGTERM
            stop(process)
        for log in self._logs.values():
            log.close()


__all__ = ["AUTH", "LocalSystem", "free_port_block"]
