"""The operations assets in ops/ against the real tools: promtool accepts the Prometheus
configuration, the alerting rules and every dashboard query, and a real Prometheus scrapes a running
system and answers a query for the order counter."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from devtools.system import LocalSystem
from tests.e2e.observe import PrometheusServer
from tests.helpers import ROOT, order_body, require_binary

OPS = ROOT / "ops"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_prometheus_configuration_and_its_rules_pass_promtool() -> None:
    config = promtool("check", "config", str(OPS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = promtool("check", "rules", str(OPS / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "6 rules found" in rules.stdout


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "bookstore.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    # promtool parses each expression when it checks a rule file: one recording rule per query.
    rules = "".join(
        f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n" for i, e in enumerate(exprs)
    )
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(f"groups:\n  - name: dashboard\n    rules:\n{rules}")
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_real_prometheus_scrapes_every_process_and_answers_for_the_order_counter(
    system: LocalSystem, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    targets = {name: [f"127.0.0.1:{system.specs[name].port}"] for name in system.specs}
    with PrometheusServer(tmp_path / "prometheus", targets) as prometheus:
        response = await client.post("/api/orders", json=order_body("123", 1))
        assert response.status_code == 201, response.text
        confirmed = prometheus.query('sum(orders_total{outcome="confirmed"}) >= 1')
        assert confirmed, (tmp_path / "prometheus" / "prometheus.log").read_text()[-3000:]
        assert float(confirmed[0]["value"][1]) == 1
        up = prometheus.query("count(up == 1) == 4")
        assert up, "not every process was scraped"
