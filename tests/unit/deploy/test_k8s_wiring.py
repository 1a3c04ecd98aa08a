"""deploy/k8s wiring: config that names existing Services, NetworkPolicies that allow exactly the
calls that config makes, scrape annotations and a cluster Prometheus matching ops/prometheus.yml, an
Ingress with TLS that routes only public paths, and only the Secrets the README creates."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT
from tests.unit.deploy.k8s_render import K8S, OVERLAYS, PYTHON_APPS, calls, config, of_kind, render

SECRETS = {"bookstore-internal", "bookstore-tokens", "bookstore-tls"}
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_address_in_the_config_is_a_service_on_the_right_port(overlay: str) -> None:
    services = of_kind(overlay, "Service")
    for caller, host, port in calls(overlay):
        assert host in services, (caller, host)
        assert port in [p["port"] for p in services[host]["spec"]["ports"]], (caller, host, port)
    for app in PYTHON_APPS - {"gateway"}:
        assert config(overlay)[f"{app.upper()}_STORE"] == "redis"  # never the JSON store in a pod


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_calls_the_config_makes(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    allowed: set[tuple[str, str]] = set()
    for name, policy in policies.items():
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer:
                    allowed.add((peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"], target))
                else:  # another namespace: the Ingress controller, or Prometheus for /metrics
                    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    allowed.add((f"namespace {namespace}", target or name))
    made = {(caller, host) for caller, host, _ in calls(overlay)}
    outside = {("namespace ingress-nginx", "gateway"), ("namespace monitoring", "metrics-from-prometheus")}
    assert allowed == made | outside


def test_scrape_annotations_match_ops_prometheus_jobs_and_ports() -> None:
    scrape = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())["scrape_configs"]
    ops_ports = {
        job["job_name"]: {int(t.rsplit(":", 1)[1]) for c in job["static_configs"] for t in c["targets"]}
        for job in scrape
    }
    annotated = {}
    for overlay in OVERLAYS:
        for name, workload in of_kind(overlay, "Deployment").items():
            template = workload["spec"]["template"]
            annotations = template["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                (container,) = template["spec"]["containers"]
                assert annotations["prometheus.io/path"] == "/metrics"
                assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]
                assert template["metadata"]["labels"]["app.kubernetes.io/name"] == name  # the job label
                annotated[name] = {int(annotations["prometheus.io/port"])}
    assert annotated == ops_ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_serves_tls_and_only_public_paths(overlay: str) -> None:
    (ingress,) = of_kind(overlay, "Ingress").values()
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] in SECRETS
    assert tls["hosts"] == [rule["host"] for rule in ingress["spec"]["rules"]]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
            for hidden in ("/metrics", "/internal/holds", "/readyz"):
                assert not hidden.startswith(path["path"]), (path, hidden)
        assert {"/api", "/docs", "/openapi.json", "/apispec.json"} <= {
            p["path"] for p in rule["http"]["paths"]
        }


def secret_names(node: Any) -> set[str]:
    """Every Secret a manifest refers to: env secretKeyRef, secret volumes, Ingress TLS."""
    if isinstance(node, list):
        return set().union(*(secret_names(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["secretKeyRef"]["name"]} if "secretKeyRef" in node else set()
    found |= {node["secretName"]} if "secretName" in node else set()
    return found.union(*(secret_names(value) for value in node.values()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_secrets_the_readme_creates_are_referenced(overlay: str) -> None:
    assert secret_names(list(render(overlay))) == SECRETS
    kubernetes_part = README[README.index("### On Kubernetes") :]
    for name in SECRETS:
        assert re.search(rf"kubectl create secret [a-z]+ {name} ", kubernetes_part), name


def test_the_cluster_prometheus_config_keeps_the_ops_jobs() -> None:
    """deploy/k8s/prometheus.yml finds the annotated pods and names each job after the pod's app,
    as ops/prometheus.yml's jobs are named, so ops/alerts.yml applies unchanged. (Debian's promtool
    is built without Kubernetes discovery, so it cannot check this file; the relabelling is checked
    here instead.)"""
    config = yaml.safe_load((K8S / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert [sd["role"] for sd in job["kubernetes_sd_configs"]] == ["pod"]
    relabels = {tuple(r["source_labels"]): r for r in job["relabel_configs"]}
    keep = relabels[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
    assert (keep["action"], keep["regex"]) == ("keep", "true")
    assert relabels[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]["target_label"] == "job"
    path = relabels[("__meta_kubernetes_pod_annotation_prometheus_io_path",)]
    assert path["target_label"] == "__metrics_path__"
    port = relabels[("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port")]
    assert port["target_label"] == "__address__"
    replacement = port["replacement"].replace("$", "\\")
    for address in ("10.1.2.3:8000;8001", "10.1.2.3;8001"):  # a pod's address with or without a port
        assert re.fullmatch(port["regex"], address)
        assert re.sub(port["regex"], replacement, address) == "10.1.2.3:8001"
    assert config["rule_files"] == ["alerts.yml"]
