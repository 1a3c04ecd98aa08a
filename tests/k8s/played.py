"""The dev overlay of deploy/k8s, played by `podman kube play`: images built from the Dockerfile,
the overlay rendered by kubectl's own kustomize through the test-only overlay (overlays/podman),
with this run's images, Secrets and the gateway's host port added by a kustomization of the run's
own, as an operator's would. Always taken down with its secrets, network and images.

Where podman 4.3 falls short of a cluster, this adapts and says so:
- It stores a played Secret as it is, but reads a `secretKeyRef` only from a JSON map of base64
  values, and a secret volume from a Secret's `data` taken verbatim (not base64-decoded; its
  `stringData` is ignored): the rendered Secrets become podman secrets in the form each use needs
  (one Secret, one use) instead of being played.
- It does not run Services, the Ingress, NetworkPolicies, the HorizontalPodAutoscaler or the
  PodDisruptionBudget: they are played and ignored, and the client calls the gateway's host port."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "podman"
BUILT = ("gateway", "inventory", "sales", "delivery")
Doc = dict[str, Any]


def secret_uses(docs: list[Doc]) -> dict[str, str]:
    """Each Secret's use in the pods: "env" (secretKeyRef) or "volume"."""
    uses: dict[str, str] = {}
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Pod"):
            continue
        pod = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
        for container in pod["containers"]:
            for env in container.get("env", []):
                if "secretKeyRef" in env.get("valueFrom", {}):
                    uses[env["valueFrom"]["secretKeyRef"]["name"]] = "env"
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                assert uses.get(name, "volume") == "volume", f"podman 4.3 cannot use {name} both ways"
                uses[name] = "volume"
    return uses


def podman_secret(secret: Doc, use: str) -> bytes:
    """The content of a podman secret that podman 4.3's kube play reads for this use."""
    values = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
    values |= {k: v.encode() for k, v in secret.get("stringData", {}).items()}
    if use == "env":
        return json.dumps({k: base64.b64encode(v).decode() for k, v in values.items()}).encode()
    verbatim = {k: v.decode() for k, v in values.items()}
    return json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": secret["metadata"], "data": verbatim}
    ).encode()


class PlayedOverlay:
    """One played copy of the dev overlay: `up()`, then `url`, `token` and the verbs below."""

    def __init__(self, workdir: Path, port: int) -> None:
        run = uuid.uuid4().hex[:10]
        self.workdir, self.port = workdir, port
        self.tag = f"k8s-test-{run}"
        self.network = f"bookstore-k8s-{run}"
        self.token = secrets.token_urlsafe(32)
        self.played = workdir / "played.yaml"
        self.secrets: list[str] = []
        # podman reads registry credentials from $DOCKER_CONFIG/config.json, and fails when the
        # variable (which with-compose sets for the docker CLI) names a directory without one.
        self.env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def podman(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"podman {' '.join(args[:3])} exited {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return result

    def image(self, name: str) -> str:
        return f"localhost/bookstore-{name}:{self.tag}"

    def build(self) -> None:
        for name in BUILT:
            self.podman("build", "--target", name, "-t", self.image(name), str(ROOT), timeout=900)

    def render(self) -> list[Doc]:
        """The podman overlay under a kustomization of this run: its images, Secrets, host port."""
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        (self.workdir / "tokens.json").write_text(
            json.dumps([{"subject": "ops_test", "roles": ["admin"], "token_sha256": digest}])
        )
        gateway_port = [
            {"op": "add", "path": "/spec/template/spec/containers/0/ports/0/hostPort", "value": self.port},
            {"op": "add", "path": "/spec/template/spec/containers/0/ports/0/hostIP", "value": "127.0.0.1"},
        ]
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(OVERLAY, self.workdir)],
            "images": [
                {
                    "name": f"bookstore-{name}",
                    "newName": self.image(name).rsplit(":", 1)[0],
                    "newTag": self.tag,
                }
                for name in BUILT
            ],
            "generatorOptions": {"disableNameSuffixHash": True},
            "secretGenerator": [
                {"name": "bookstore-internal", "literals": [f"internal-secret={secrets.token_hex(32)}"]},
                {"name": "bookstore-tokens", "files": ["tokens.json"]},
            ],
            "patches": [
                {"target": {"kind": "Deployment", "name": "gateway"}, "patch": json.dumps(gateway_port)}
            ],
        }
        (self.workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        kubectl = Path(sys.executable).with_name("kubectl")
        rendered = subprocess.run(
            [str(kubectl), "kustomize", str(self.workdir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]

    def up(self) -> None:
        self.build()
        docs = self.render()
        uses = secret_uses(docs)
        for secret in (doc for doc in docs if doc["kind"] == "Secret"):
            name = secret["metadata"]["name"]
            path = self.workdir / f"secret-{name}.json"
            path.write_bytes(podman_secret(secret, uses[name]))
            self.podman("secret", "create", name, str(path))
            self.secrets.append(name)
            path.unlink()
        self.played.write_text(yaml.safe_dump_all([doc for doc in docs if doc["kind"] != "Secret"]))
        self.podman("network", "create", self.network)
        self.podman("kube", "play", "--network", self.network, str(self.played), timeout=300)

    def exec(self, container: str, script: str) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", container, "sh", "-c", script, check=False)

    def dump(self) -> None:
        """Every container's state and the end of its log, for a failed start or test."""
        listing = self.podman("ps", "--all", "--format", "{{.Names}} {{.Status}}", check=False).stdout
        print(listing, file=sys.stderr)
        for name in (line.split()[0] for line in listing.splitlines() if line and "-infra" not in line):
            print(f"----- {name} -----", file=sys.stderr)
            print(self.podman("logs", "--tail", "30", name, check=False).stderr[-4000:], file=sys.stderr)

    def down(self) -> None:
        if self.played.exists():
            self.podman("kube", "down", str(self.played), timeout=180, check=False)
        for name in self.secrets:
            self.podman("secret", "rm", name, check=False)
            # A secret volume is a named volume of the secret's name, which `kube down` leaves.
            self.podman("volume", "rm", "--force", name, check=False)
        self.podman("network", "rm", "--force", self.network, check=False)
        self.podman("image", "rm", *(self.image(name) for name in BUILT), check=False)
