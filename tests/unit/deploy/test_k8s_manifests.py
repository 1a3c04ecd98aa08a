"""deploy/k8s: every overlay, rendered by kubectl's own kustomize, is valid against the pinned
Kubernetes API schemas (kubernetes-validate, offline, strict), holds the whole system, runs every pod
hardened with probes and a graceful stop, sizes dev and prod as documented, and the podman overlay
of `make test-k8s` changes only what podman lacks. How the parts are wired: test_k8s_wiring.py."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from tests.helpers import ROOT
from tests.unit.deploy.k8s_render import OVERLAYS, PYTHON_APPS, calls, of_kind, render, workloads

KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships (pyproject.toml pins it)


@pytest.mark.parametrize("overlay", [*OVERLAYS, "podman"])
def test_every_manifest_is_valid_against_the_kubernetes_api_schemas(overlay: str) -> None:
    for doc in render(overlay):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any mistake


def test_the_validator_refuses_a_misspelt_field() -> None:
    """The check above can fail: a field the API does not know is an error, not ignored."""
    gateway = of_kind("dev", "Deployment")["gateway"]
    broken = yaml.safe_load(yaml.safe_dump(gateway).replace("readinessProbe", "readinesProbe"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_holds_the_whole_system_in_one_namespace_and_no_secret(overlay: str) -> None:
    assert set(of_kind(overlay, "Deployment")) == PYTHON_APPS
    assert set(of_kind(overlay, "StatefulSet")) == {
        "redis-inventory",
        "redis-sales",
        "redis-delivery",
        "redis-gateway",
    }
    assert set(of_kind(overlay, "Service")) == set(workloads(overlay))
    assert set(of_kind(overlay, "HorizontalPodAutoscaler")) == {"gateway"}
    assert set(of_kind(overlay, "PodDisruptionBudget")) == {"gateway"}
    assert len(of_kind(overlay, "Ingress")) == 1
    assert not of_kind(overlay, "Secret"), "Secrets are created in the cluster, never committed"
    namespace = {
        doc.get("metadata", {}).get("namespace") for doc in render(overlay) if doc["kind"] != "Namespace"
    }
    assert namespace == set(of_kind(overlay, "Namespace"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_unprivileged_with_a_read_only_root(overlay: str) -> None:
    for name, workload in workloads(overlay).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        # Service links would set INVENTORY_PORT=tcp://..., which the inventory reads as its port.
        assert pod["enableServiceLinks"] is False, name
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_python_pods_run_as_the_images_user_and_write_only_to_tmp(overlay: str) -> None:
    for name in PYTHON_APPS:
        pod = workloads(overlay)[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's `bookstore` user
        (container,) = pod["containers"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
        assert [(m["mountPath"], "emptyDir" in volumes[m["name"]]) for m in writable] == [("/tmp", True)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_has_probes_and_time_to_stop_gracefully(overlay: str) -> None:
    for name in PYTHON_APPS:
        pod = workloads(overlay)[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert [p["name"] for p in container["ports"]] == ["http"]
        # preStop, then up to 10 s for requests in flight (shared/serve.py), then the flush.
        assert (
            pod["terminationGracePeriodSeconds"] >= container["lifecycle"]["preStop"]["sleep"]["seconds"] + 15
        )
    for name, redis in of_kind(overlay, "StatefulSet").items():
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        assert "livenessProbe" in container and "readinessProbe" in container, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_autoscaled_and_kept_through_disruptions(overlay: str) -> None:
    gateway = of_kind(overlay, "Deployment")["gateway"]
    hpa = of_kind(overlay, "HorizontalPodAutoscaler")["gateway"]["spec"]
    pdb = of_kind(overlay, "PodDisruptionBudget")["gateway"]["spec"]
    assert "replicas" not in gateway["spec"]  # the autoscaler's, which an apply must not reset
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    assert gateway["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    assert pdb["selector"] == gateway["spec"]["selector"]
    assert pdb["maxUnavailable"] == 1  # also lets a one-replica dev cluster drain its node


def test_dev_runs_one_of_each_with_redis_in_memory_and_prod_scales_and_persists() -> None:
    dev, prod = workloads("dev"), workloads("prod")
    assert all(w["spec"].get("replicas", 1) == 1 for w in dev.values())
    assert of_kind("dev", "HorizontalPodAutoscaler")["gateway"]["spec"]["maxReplicas"] == 1
    for name in ("redis-inventory", "redis-sales", "redis-delivery"):
        assert "volumeClaimTemplates" not in dev[name]["spec"]
        assert "--appendonly" in prod[name]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert prod[name]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert all(prod[name]["spec"]["replicas"] >= 2 for name in PYTHON_APPS - {"gateway"})
    assert of_kind("prod", "HorizontalPodAutoscaler")["gateway"]["spec"]["minReplicas"] >= 2
    for name, workload in prod.items():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["limits"]["memory"], name


def test_the_podman_overlay_changes_only_what_podman_lacks() -> None:
    """deploy/k8s/overlays/podman's header says why each change: pod names for Services, no
    StatefulSet, no host ports but the gateway's, no liveness probes. Nothing else differs."""
    (dev_config,) = of_kind("dev", "ConfigMap")
    (podman_config,) = of_kind("podman", "ConfigMap")
    played = {(doc["kind"], doc["metadata"]["name"]): doc for doc in render("podman")}
    for doc in render("dev"):
        name = doc["metadata"]["name"]
        expected = yaml.safe_load(yaml.safe_dump(doc).replace(dev_config, podman_config))
        if doc["kind"] in ("Deployment", "StatefulSet"):
            (container,) = expected["spec"]["template"]["spec"]["containers"]
            del container["livenessProbe"]
            if name != "gateway":
                del container["ports"]
        if doc["kind"] == "StatefulSet":
            expected["kind"] = "Deployment"
            del expected["spec"]["serviceName"]
        if doc["kind"] == "ConfigMap":
            expected["data"] = {
                key: re.sub(r"//([a-z-]+):", r"//\1-pod-0:", value) if key.endswith("_URL") else value
                for key, value in expected["data"].items()
            }
        assert played.pop((expected["kind"], expected["metadata"]["name"])) == expected, name
    assert not played
    pods = {f"{name}-pod-0" for name in of_kind("podman", "Deployment")}  # podman's pod names
    assert {host for _, host, _ in calls("podman")} <= pods


def test_each_redis_fsyncs_as_its_variable_says_every_second_unless_set() -> None:
    """README, The Redis store: `everysec` by default, `always` by setting REDIS_APPENDFSYNC."""
    stores = {n: r for n, r in of_kind("prod", "StatefulSet").items() if n != "redis-gateway"}
    assert len(stores) == 3  # the gateways' limits are kept in memory only: nothing to lose
    for name, redis in stores.items():
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        assert args[args.index("--appendfsync") + 1] == "$(REDIS_APPENDFSYNC)", name
        assert {"name": "REDIS_APPENDFSYNC", "value": "everysec"} in container["env"], name
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["x-redis"]["command"]
    assert command[command.index("--appendfsync") + 1] == "${REDIS_APPENDFSYNC:-everysec}"
    assert "REDIS_APPENDFSYNC=" in (ROOT / ".env.example").read_text()
