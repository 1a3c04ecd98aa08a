"""The system under test: every process started through `devtools.launch` on free ports, a private
redis-server for the Redis store, and nginx in front of the gateway from a config in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from bench import bare
from devtools.launch import DEV_TOKEN, free_port_block, start, stop, wait_healthy
from devtools.redis_server import RedisServer
from devtools.system import LocalSystem
from shared import internal

AUTH = {"Authorization": f"Bearer {DEV_TOKEN}"}
# What the gateway sends inventory for the dev token (an admin), so a direct call does the same work.
PRINCIPAL = {"x-principal-subject": "dev", "x-principal-roles": "admin"}
# The benchmark measures our code, not a tuning knob: no rate limit, no cap on one caller's
# Idempotency-Keys, and a payment provider that answers at once and never fails (its defaults).
ENV = {
    "GATEWAY_RATE_LIMIT_PER_SECOND": "0",
    "SALES_PAYMENT_FAILURE_RATE": "0",
    "SALES_PAYMENT_TIMEOUT_RATE": "0",
    # Every order comes from one caller (the dev token) with a fresh Idempotency-Key, and a caller
    # may hold 1,000 keys by default: past that every order was refused (429) within a run.
    "SALES_IDEMPOTENCY_MAX_KEYS": "100000000",
}


class BenchSystem(LocalSystem):
    """Gateway, inventory, sales and delivery on one store, as `make run` starts them, with what the
    benchmark reads off them: CPU used, signed direct calls, and a catalog stocked for orders."""

    def __init__(
        self,
        root: Path,
        store: str,
        redis_url: str | None = None,
        code: Path | None = None,
        instances: int = 1,
    ) -> None:
        """`code`: a directory whose modules the processes run instead of this checkout's; `instances`
        of every service (Redis only), the gateway spreading calls over them."""
        # PYTHONSAFEPATH: `python -m` would otherwise put the working directory (this checkout) first.
        env = {**ENV, **({"PYTHONPATH": str(code), "PYTHONSAFEPATH": "1"} if code else {})}
        super().__init__(root, env, store, instances=instances, redis_url=redis_url)
        self.store = store

    @property
    def inventory_url(self) -> str:
        return self.service_url("inventory")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each process has used so far, by name (Linux /proc)."""
        used = {}
        for name, process in self.processes.items():
            try:
                used[name] = cpu_seconds(process.pid)
            except OSError:
                continue
        return used

    def signed(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """Headers for one call straight to inventory, signed as the gateway signs (one use)."""
        subject, roles = PRINCIPAL["x-principal-subject"], PRINCIPAL["x-principal-roles"]
        secret = self.specs["gateway"].env["INTERNAL_SECRET"]
        return {**PRINCIPAL, internal.HEADER: internal.sign(secret, method, path, subject, roles, body)}

    def stock_up(self, books: int, stock: int) -> list[str]:
        """At least `books` books in the catalog, each with `stock` more units; their ids. Orders are
        spread over them, as a shop's are over its catalog, not all on the three seeded ones."""
        with urllib.request.urlopen(urllib.request.Request(self.url + "/api/books", headers=AUTH)) as r:
            ids = list(json.load(r))
        for book in ids:
            self._post(f"/api/books/{book}/stock", {"delta": stock})
        for n in range(len(ids), books):
            book = {"id": f"bench-{n}", "title": f"Bench {n}", "author": "Bench", "price": 9.99}
            self._post("/api/books", {**book, "stock": stock, "isbn": _isbn13(n)})
            ids.append(str(book["id"]))
        return ids

    def _post(self, path: str, body: dict[str, object]) -> None:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={**AUTH, "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request).close()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _isbn13(n: int) -> str:
    digits = f"979{n:09d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return f"{digits}{check}"


_NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream gateway {{
        server 127.0.0.1:{gateway};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


class Nginx:
    """nginx as our own process (not a daemon), one worker, keep-alive connections to the gateway."""

    def __init__(self, root: Path, gateway_port: int) -> None:
        self.root = root / "nginx"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port_block(1)
        (self.root / "nginx.conf").write_text(
            _NGINX_CONF.format(tmp=self.root, gateway=gateway_port, port=self.port)
        )
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("nginx") is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nginx") or "nginx"
        self.process = subprocess.Popen(
            [binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"nginx exited: see {self.root}/error.log") from None
                time.sleep(0.05)
        raise RuntimeError("nginx did not answer")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


class BareApp:
    """The bare FastAPI app (`bench/bare.py`) as its own process, for the length of a `with` block."""

    def __init__(self, root: Path) -> None:
        self.spec = bare.spec(free_port_block(1))
        self.output = root / "bare.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.spec.url

    def __enter__(self) -> BareApp:
        with self.output.open("ab") as log:
            self.process = start(self.spec, output=log)
        wait_healthy(self.spec, self.process)
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            stop(self.process)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)


__all__ = ["AUTH", "BareApp", "BenchSystem", "Nginx", "RedisServer"]
