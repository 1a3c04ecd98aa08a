"""Which peer's X-Forwarded-For is believed: addresses and networks of trusted proxies."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from gateway.guard import Guard
from gateway.ratelimit import MemoryRateLimiter


def guard(trusted: list[str]) -> Guard:
    return Guard(None, MemoryRateLimiter(1.0, 1), trusted)


def scope(peer: str, forwarded: str | None = None) -> Scope:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 40000), "headers": headers}


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert guard([]).client_address(scope("10.1.2.3", "1.2.3.4")) == "10.1.2.3"
    assert guard(["10.9.9.9"]).client_address(scope("10.1.2.3", "1.2.3.4")) == "10.1.2.3"


def test_a_trusted_address_names_the_client_in_its_last_hop() -> None:
    g = guard(["10.1.2.3"])
    assert g.client_address(scope("10.1.2.3", "6.6.6.6, 1.2.3.4")) == "1.2.3.4"
    assert g.client_address(scope("10.1.2.3")) == "10.1.2.3"


def test_a_proxy_inside_a_trusted_network_is_believed() -> None:
    g = guard(["172.16.0.0/12", "fd00::/8"])
    assert g.client_address(scope("172.18.0.5", "1.2.3.4")) == "1.2.3.4"
    assert g.client_address(scope("::ffff:172.18.0.5", "1.2.3.4")) == "1.2.3.4"
    assert g.client_address(scope("fd12::7", "5.6.7.8")) == "5.6.7.8"
    assert g.client_address(scope("192.168.1.1", "1.2.3.4")) == "192.168.1.1"
    assert g.client_address(scope("testclient", "1.2.3.4")) == "testclient"


def test_a_malformed_trusted_proxy_fails_at_start() -> None:
    with pytest.raises(ValueError):
        guard(["nginx"])
