"""Test helpers for observability: read a process's /metrics, a fake OTLP collector, and a real
Prometheus server on a free loopback port."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from devtools.system import free_port_block
from tests.helpers import require_binary

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of `url`/metrics, by name and label set."""
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


class FakeCollector:
    """Takes OTLP/HTTP trace exports (protobuf) like a collector; keeps (service, trace id, span name)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource_spans in request.resource_spans:
                        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            with lock:
                                spans.extend(
                                    (attributes.get("service.name", ""), span.trace_id.hex(), span.name)
                                    for span in scope_spans.spans
                                )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port_block(1)), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeCollector:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class PrometheusServer:
    """A real Prometheus scraping `targets` (job → host:port list) every second, on a free port."""

    def __init__(self, directory: Path, targets: dict[str, list[str]]) -> None:
        self.binary = require_binary("prometheus", "prometheus")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port_block(1)
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: [{', '.join(hosts)}]\n"
            for job, hosts in targets.items()
        )
        self.config = directory / "prometheus.yml"
        self.config.write_text(
            f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        self.log = open(self.directory / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def query(self, promql: str, within: float = 60.0) -> list[dict[str, Any]]:
        """The first non-empty answer to an instant query, polled until `within` seconds pass."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                response = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=5)
                result: list[dict[str, Any]] = response.json()["data"]["result"]
                if response.status_code == 200 and result:
                    return result
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # not listening yet
            time.sleep(0.5)
        return []
