"""Starts the local system (every service and the gateway as its own process), waits until each
answers `/healthz`, and stops them all by PID on Ctrl-C or SIGTERM. `make run` and the
integration tests both use it, so the local topology is defined here once.

    python -m devtools.launch --port 8000 --data-dir ./data [--store redis --instances 2]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DEV_TOKEN = "my_secure_token"


@dataclass
class ProcessSpec:
    """One process to start: `python -m module` listening on `port`, with extra environment."""

    name: str
    module: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port_block(size: int = 4) -> int:
    """A base port such that base..base+size-1 are all free on 127.0.0.1 right now.

    Below the kernel's ephemeral range (32768+): there, a client polling a port nobody listens
    on yet can be handed that very port as its own and connect to itself, reading back its own
    request instead of an answer."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(20000, 32000 - size)
        sockets = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


def local_system(
    port: int,
    data_dir: Path,
    store: str = "json",
    *,
    instances: int = 1,
    redis_url: str | None = None,
    internal_secret: str | None = None,
) -> list[ProcessSpec]:
    """The gateway on `port`; inventory, sales and delivery on the three ports after it, and their
    further instances 10, 20, ... ports above those. In start order (each after what it calls).
    Every process gets the same internal secret (a fresh one unless given), so the services answer
    only the gateway and each other."""
    secret = internal_secret or secrets.token_hex(32)
    if instances > 1 and store != "redis":
        raise ValueError("several instances share their data only through Redis: use --store redis")
    services: dict[str, list[ProcessSpec]] = {}
    for offset, (name, module, prefix) in enumerate(
        (
            ("inventory", "inventory_service", "INVENTORY"),
            ("sales", "sales_service", "SALES"),
            ("delivery", "delivery_service", "DELIVERY"),
        ),
        start=1,
    ):
        for i in range(instances):
            spec = ProcessSpec(name if i == 0 else f"{name}-{i + 1}", module, port + offset + 10 * i)
            spec.env |= {
                f"{prefix}_PORT": str(spec.port),
                f"{prefix}_DATA_DIR": str(data_dir / name),
                f"{prefix}_STORE": store,
            }
            if redis_url:
                spec.env[f"{prefix}_REDIS_URL"] = redis_url
            services.setdefault(name, []).append(spec)

    def urls(name: str) -> str:
        return ",".join(spec.url for spec in services[name])

    for spec in services["sales"]:
        spec.env["SALES_INVENTORY_URL"] = urls("inventory")
    for spec in services["delivery"]:
        spec.env["DELIVERY_SALES_URL"] = urls("sales")
    gateway = ProcessSpec("gateway", "gateway", port)
    gateway.env |= {
        "GATEWAY_PORT": str(gateway.port),
        "GATEWAY_INVENTORY_URL": urls("inventory"),
        "GATEWAY_SALES_URL": urls("sales"),
        "GATEWAY_DELIVERY_URL": urls("delivery"),
    }
    everything = [*services["inventory"], *services["sales"], *services["delivery"], gateway]
    for spec in everything:
        spec.env["INTERNAL_SECRET"] = secret
    return everything


def start(
    spec: ProcessSpec, *, env: dict[str, str] | None = None, output: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", spec.module],
        env={**os.environ, **(env or {}), **spec.env},
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )


def wait_healthy(spec: ProcessSpec, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{spec.name} exited with status {process.returncode} while starting")
        try:
            with urllib.request.urlopen(spec.url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):  # not listening yet, or not HTTP yet
            time.sleep(0.05)
    raise RuntimeError(f"{spec.name} did not answer {spec.url}/healthz within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`; only ever the process we started, by its PID."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data")))
    parser.add_argument(
        "--store", default=os.environ.get("STORE", "json"), choices=["json", "memory", "redis"]
    )
    parser.add_argument("--instances", type=int, default=int(os.environ.get("INSTANCES", 1)))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    try:
        specs = local_system(
            args.port,
            args.data_dir.resolve(),
            args.store,
            instances=args.instances,
            redis_url=args.redis_url,
            internal_secret=os.environ.get("INTERNAL_SECRET"),
        )
    except ValueError as exc:
        parser.error(str(exc))

    running: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for spec in specs:
            process = start(spec)
            running.append(process)
            wait_healthy(spec, process)
        print(
            "\n".join(f"  {spec.name:<12} {spec.url}" for spec in specs) + "\n"
            f"\nBookstore ready at http://127.0.0.1:{args.port}/api/books  (docs: /docs)\n"
            f"Development token: Authorization: Bearer {DEV_TOKEN}\nCtrl-C stops everything.\n",
            flush=True,
        )
        while not stopping:
            if any(p.poll() is not None for p in running):
                print("a process exited; stopping the others", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for process in reversed(running):
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
