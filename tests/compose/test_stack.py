"""The whole system as `docker compose up` runs it, tested through nginx on 127.0.0.1 over HTTPS: the
original API's flow and the 200-buyer race (the integration suite's own tests, on this stack), the
original API's documentation paths, both gateway replicas serving, one stopped without a failed
request, data kept across a service restart and a new Redis container, and nginx's own answers in the
API's error envelope. TLS itself is test_edge_tls.py's.

The tests share one stack and run in the order written: each builds on what the previous left."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid

import httpx
import pytest

from tests.compose.stack import ROOT, ComposeStack
from tests.e2e import test_original_api_flow as original_api
from tests.e2e import test_races as races
from tests.helpers import eventually, order_body, stock

pytestmark = pytest.mark.compose


def test_compose_refuses_to_start_without_its_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("INTERNAL_SECRET", "TOKENS_FILE")}
    command = ["docker", "compose", "--project-directory", str(ROOT), "--env-file", os.devnull, "config"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "INTERNAL_SECRET" in result.stderr or "TOKENS_FILE" in result.stderr, result.stderr


def test_every_python_container_runs_unprivileged(stack: ComposeStack) -> None:
    for service in ("gateway-1", "gateway-2", "inventory", "sales", "delivery"):
        assert stack.exec(service, "id -u").stdout.strip() == "10001", service


async def test_the_original_clients_whole_flow_works_through_nginx(client: httpx.AsyncClient) -> None:
    await original_api.test_the_original_clients_whole_flow_works_unchanged(client)


async def test_two_hundred_buyers_through_nginx_make_exactly_25_orders(client: httpx.AsyncClient) -> None:
    await races.test_two_hundred_buyers_for_25_copies_make_exactly_25_orders(client)


async def test_the_original_documentation_paths_answer_without_a_token(stack: ComposeStack) -> None:
    async with stack.trusting_client() as anonymous:
        spec = await anonymous.get("/apispec.json")
        current = await anonymous.get("/openapi.json")
        docs = await anonymous.get("/api/docs")
        page = await anonymous.get("/api/docs", follow_redirects=True)
    assert spec.status_code == 200, spec.text
    assert spec.json() == current.json()
    assert spec.json()["paths"]
    assert docs.status_code == 308
    assert page.status_code == 200
    assert str(page.url).endswith("/docs")
    assert "swagger-ui-bundle.js" in page.text


async def test_requests_reach_both_gateway_replicas(client: httpx.AsyncClient, stack: ComposeStack) -> None:
    ids = [f"replica-probe-{uuid.uuid4().hex[:12]}" for _ in range(20)]
    for request_id in ids:
        response = await client.get("/api/books/123", headers={"X-Request-ID": request_id})
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == request_id  # passed on by nginx, echoed back
    served = {name: [i for i in ids if i in stack.logs(name)] for name in ("gateway-1", "gateway-2")}
    assert served["gateway-1"] and served["gateway-2"], served
    assert sorted(served["gateway-1"] + served["gateway-2"]) == sorted(ids)


async def test_nginx_passes_its_own_request_id_and_gzips_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/books")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    docs = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert docs.status_code == 200
    assert docs.headers["content-encoding"] == "gzip"
    assert docs.json()["paths"]


OUTSIDE_PATHS = ["/metrics", "//metrics", "/METRICS", "/internal/holds", "/api/../internal/x"]


@pytest.mark.parametrize("path", OUTSIDE_PATHS)
async def test_metrics_and_internal_paths_are_not_reachable_through_nginx(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"X-Request-ID": "outside-probe"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": "Not found", "request_id": "outside-probe"}


async def test_bodies_over_the_limit_are_refused_in_the_envelope(client: httpx.AsyncClient) -> None:
    too_big_for_the_gateway = await client.post("/api/orders", content=b"x" * 1_500_000)
    assert too_big_for_the_gateway.status_code == 413
    assert "error" in too_big_for_the_gateway.json()
    too_big_for_nginx = await client.post("/api/orders", content=b"x" * 3_000_000)
    assert too_big_for_nginx.status_code == 413
    assert too_big_for_nginx.json()["error"] == "Request body too large"


async def test_a_token_guesser_behind_nginx_is_braked_alone(
    client: httpx.AsyncClient, stack: ComposeStack
) -> None:
    """The gateways believe nginx's X-Forwarded-For, so one address guessing tokens is refused
    without refusing every other client that nginx forwards; and both replicas count its failures
    together, in redis-gateway, so the brake is not doubled by having two of them."""
    guess = (
        "wget -q -O /dev/null --no-check-certificate --header 'Authorization: Bearer guess' "
        "https://127.0.0.1/api/books"
    )
    # The brake takes 10 failures and forgives one every 2 s: how many guesses it takes depends on
    # how fast they come (each is a TLS handshake in busybox), so guess until two in a row (one per
    # replica, as nginx alternates) are refused, at most 100 times.
    script = (
        f"n=0; for i in $(seq 100); do if {guess} 2>&1 | grep -q 429; then n=$((n+1)); else n=0; fi;"
        " if [ $n -eq 2 ]; then echo braked after $i; exit 0; fi; done; exit 1"
    )
    braked = stack.exec("nginx", script)
    assert braked.returncode == 0, braked.stdout + braked.stderr
    # 10 failures in all come first; were each replica counting alone, 10 each (22 guesses at least).
    assert 12 <= int(braked.stdout.split()[-1]) < 22, braked.stdout
    buckets = stack.exec("redis-gateway", "redis-cli --scan --pattern 'ratelimit:authfail:*'").stdout.split()
    assert "ratelimit:authfail:127.0.0.1" in buckets, buckets  # nginx's own address, as it forwards it
    for _ in range(4):
        assert (await client.get("/api/books/456")).status_code == 200


async def settled(client: httpx.AsyncClient, paths: tuple[str, ...], within: float = 90) -> bool:
    """Every path answers 200 several times in a row (so through both gateways) within `within`."""

    async def all_ok() -> bool:
        for _ in range(3):
            for path in paths:
                if (await client.get(path)).status_code != 200:
                    return False
        return True

    return await eventually(all_ok, within=within)


async def test_data_survives_a_service_restart_and_new_containers_on_the_redis_volume(
    client: httpx.AsyncClient, stack: ComposeStack
) -> None:
    order = (await client.get("/api/orders/order_1")).json()
    stack.restart("inventory")
    stack.wait_connected(("inventory", "sales", "gateway-1", "gateway-2"))
    assert await settled(client, ("/api/books/123",))
    assert await stock(client, "123") == 48  # the original flow's order
    assert await stock(client, "789") == 0  # the race's 25 orders

    # Sales and its Redis redeployed: new containers; the orders live on in the named volume.
    stack.recreate("redis-sales", "sales")
    stack.wait_connected(("sales", "delivery", "gateway-1", "gateway-2"))
    assert await settled(client, ("/api/orders/order_1",))
    assert (await client.get("/api/orders/order_1")).json() == order


async def test_with_one_gateway_stopped_every_request_still_succeeds(
    client: httpx.AsyncClient, stack: ComposeStack
) -> None:
    stack.stop("gateway-2")
    stack.wait_connected(("gateway-1", "sales", "delivery"))
    statuses = [(await client.get("/api/books/456")).status_code for _ in range(10)]
    placed = await client.post("/api/orders", json=order_body("456"))
    listed = await asyncio.gather(*(client.get("/api/orders?limit=5") for _ in range(10)))
    assert statuses == [200] * 10
    assert placed.status_code == 201, placed.text
    assert [r.status_code for r in listed] == [200] * 10
    listing = stack.compose("ps", "--all", "--format", "json", "gateway-2").strip()
    stopped = json.loads(listing) if listing.startswith("[") else [json.loads(listing.splitlines()[0])]
    assert stopped[0]["ExitCode"] == 0  # SIGTERM: a graceful stop


async def test_with_no_gateway_nginx_answers_in_the_envelope(
    client: httpx.AsyncClient, stack: ComposeStack
) -> None:
    stack.stop("gateway-1")
    response = await client.get("/api/books", headers={"X-Request-ID": "nobody-home"})
    assert response.status_code in (502, 503, 504)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"] == "nobody-home"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["request_id"] == "nobody-home"
    assert body["error"].startswith(("Service unavailable", "Gateway timeout"))


def test_the_running_images_cannot_import_a_harness(stack: ComposeStack) -> None:
    # Every image comes from one build stage; the gateways are stopped by now, the services run.
    program = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    print(name)\n"
    )
    for service in ("inventory", "sales", "delivery"):
        result = stack.exec(service, 'python -c "$0" "$@"', program, "devtools", "bench", "tests", "shared")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["shared"], service  # shared: the check can see a package
