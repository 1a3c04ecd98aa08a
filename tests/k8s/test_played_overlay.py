"""The dev overlay of deploy/k8s, played by podman: the original client's whole flow through the
gateway, on pods configured only by the ConfigMap and the Secrets, each Python process unprivileged
on a read-only root, and the services' data in their own Redis.

The tests share one played overlay and run in the order written."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import test_original_api_flow as original_api
from tests.k8s.played import PlayedOverlay

pytestmark = pytest.mark.k8s
PYTHON_CONTAINERS = {  # podman names a Deployment's container <deployment>-pod-0-<container>
    name: f"{name}-pod-0-{name}" for name in ("gateway", "inventory", "sales", "delivery")
}


async def test_the_original_clients_whole_flow_works_through_the_gateway(client: httpx.AsyncClient) -> None:
    await original_api.test_the_original_clients_whole_flow_works_unchanged(client)


async def test_only_the_tokens_file_from_the_secret_lets_callers_in(
    client: httpx.AsyncClient, played: PlayedOverlay
) -> None:
    async with httpx.AsyncClient(base_url=played.url) as anonymous:
        development = await anonymous.get("/api/books", headers={"Authorization": "Bearer my_secure_token"})
        docs = await anonymous.get("/api/docs", follow_redirects=True)
        spec = await anonymous.get("/apispec.json")
    assert development.status_code == 401  # GATEWAY_DEV_TOKEN is empty in the ConfigMap
    assert (await client.get("/api/books/456")).status_code == 200
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert spec.status_code == 200 and spec.json()["paths"]


@pytest.mark.parametrize("name", sorted(PYTHON_CONTAINERS))
def test_every_python_process_is_unprivileged_on_a_read_only_root(played: PlayedOverlay, name: str) -> None:
    result = played.exec(
        PYTHON_CONTAINERS[name], "id -u; touch /probe; touch /tmp/probe && echo tmp-writable"
    )
    assert result.stdout.split() == ["10001", "tmp-writable"], result.stdout + result.stderr
    assert "Read-only file system" in result.stderr


def test_orders_and_deliveries_are_in_each_services_own_redis(played: PlayedOverlay) -> None:
    for service in ("inventory", "sales", "delivery"):
        keys = played.exec(
            f"redis-{service}-pod-0-redis", f"redis-cli --scan --pattern '{service}:*' | head -5"
        )
        assert keys.stdout.strip(), (service, keys.stderr)
        others = played.exec(
            f"redis-{service}-pod-0-redis", "redis-cli --scan | grep -v '^" + service + ":' | head -5"
        )
        assert not others.stdout.strip(), (service, others.stdout)
