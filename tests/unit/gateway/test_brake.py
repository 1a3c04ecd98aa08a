"""The brake on failed authentications: an IPv6 client is its /64 (or the configured prefix), and a
global ceiling bounds the failures a second over every client, however many networks guess."""

from __future__ import annotations

import httpx

from gateway.settings import GatewaySettings
from tests.helpers import AUTH
from tests.unit.gateway.in_process import running_gateway

BAD = {"Authorization": "Bearer not-a-token"}


def settings(**overrides: object) -> GatewaySettings:
    """The test client is 127.0.0.1, trusted: X-Forwarded-For names the client of each request. The
    per-client brake refuses the third failure; refills are too slow to matter within a test."""
    values: dict[str, object] = {
        "trusted_proxies": ["127.0.0.1"],
        "auth_failures_per_second": 0.001,
        "auth_failures_burst": 2,
    }
    return GatewaySettings(**(values | overrides))


async def guess(client: httpx.AsyncClient, address: str, headers: dict[str, str] = BAD) -> int:
    response = await client.get("/api/books", headers=headers | {"X-Forwarded-For": address})
    return response.status_code


async def test_every_address_of_one_ipv6_64_counts_as_one_client() -> None:
    async with running_gateway(settings()) as client:
        statuses = [await guess(client, f"2001:db8:1:2::{n:x}") for n in range(1, 6)]
        other_network = await guess(client, "2001:db8:1:3::1")

    assert statuses == [401, 401, 429, 429, 429]
    assert other_network == 401


async def test_the_ipv6_prefix_length_is_a_setting() -> None:
    async with running_gateway(settings(auth_failures_ipv6_prefix=128)) as client:
        statuses = [await guess(client, f"2001:db8:1:2::{n:x}") for n in range(1, 6)]
        same_address = [await guess(client, "2001:db8:1:2::1") for _ in range(2)]

    assert statuses == [401] * 5  # each address its own client
    assert same_address == [401, 429]


async def test_ipv4_clients_are_counted_by_address() -> None:
    async with running_gateway(settings()) as client:
        neighbours = [await guess(client, f"192.0.2.{n}") for n in range(1, 6)]
        again = [await guess(client, "192.0.2.1") for _ in range(2)]

    assert neighbours == [401] * 5
    assert again == [401, 429]


async def test_a_braked_ipv6_network_is_refused_before_its_token_is_looked_at() -> None:
    async with running_gateway(settings()) as client:
        for n in range(1, 4):
            await guess(client, f"2001:db8::{n}")
        right_token = await guess(client, "2001:db8::99", AUTH)

    assert right_token == 429


async def test_a_global_ceiling_bounds_failures_from_many_networks() -> None:
    ceiling = settings(auth_failures_global_per_second=0.001, auth_failures_global_burst=5)
    async with running_gateway(ceiling) as client:
        statuses = [await guess(client, f"2001:db8:{n:x}::1") for n in range(1, 11)]
        # A client that has not failed still gets in with a right token: the shop stays open.
        right_token = await guess(client, "2001:db8:ffff::1", AUTH)

    assert statuses == [401] * 5 + [429] * 5
    assert right_token != 429


async def test_a_client_refused_by_the_ceiling_is_braked_with_a_retry_after() -> None:
    ceiling = settings(auth_failures_global_per_second=0.001, auth_failures_global_burst=1)
    async with running_gateway(ceiling) as client:
        await guess(client, "192.0.2.1")
        headers = BAD | {"X-Forwarded-For": "192.0.2.2"}
        refused = await client.get("/api/books", headers=headers)
        right_token = await guess(client, "192.0.2.2", AUTH)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert right_token == 429
