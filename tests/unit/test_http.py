"""Upstream calls spread over instances: round robin, a refusing instance skipped, 503/504 mapping."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.http import Upstream, base_urls


def instance(name: str, seen: list[str], fault: type[Exception] | None = None) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(name)
        if fault is not None:
            raise fault("injected", request=request)  # type: ignore[call-arg]
        return httpx.Response(200, json={"instance": name})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=f"http://{name}")


async def test_calls_take_turns_over_the_instances() -> None:
    seen: list[str] = []
    upstream = Upstream("inventory", [instance("a", seen), instance("b", seen), instance("c", seen)])

    answers = [(await upstream.call("GET", "/x")).json()["instance"] for _ in range(6)]

    assert answers == ["a", "b", "c", "a", "b", "c"]


async def test_an_instance_that_refuses_connections_is_skipped() -> None:
    seen: list[str] = []
    upstream = Upstream("inventory", [instance("down", seen, httpx.ConnectError), instance("up", seen)])

    answers = [(await upstream.call("POST", "/x", json={})).json()["instance"] for _ in range(4)]

    assert answers == ["up"] * 4
    assert seen.count("down") == 2  # tried on its turns, never answered


async def test_every_instance_refusing_is_503() -> None:
    upstream = Upstream(
        "sales", [instance("a", [], httpx.ConnectError), instance("b", [], httpx.ConnectError)]
    )

    with pytest.raises(ServiceUnavailable) as refused:
        await upstream.call("GET", "/x")
    assert refused.value.message == "The sales service is unavailable"
    assert refused.value.headers["Retry-After"]


async def test_a_timeout_is_504_and_is_not_sent_again_elsewhere() -> None:
    seen: list[str] = []
    upstream = Upstream("inventory", [instance("slow", seen, httpx.ReadTimeout), instance("fine", seen)])

    with pytest.raises(UpstreamTimeout):
        await upstream.call("POST", "/x", json={})
    assert seen == ["slow"]


async def test_ready_while_one_instance_answers() -> None:
    await Upstream("inventory", [instance("down", [], httpx.ConnectError), instance("up", [])]).ready()
    with pytest.raises(RuntimeError, match="ConnectError"):
        await Upstream("inventory", [instance("down", [], httpx.ConnectError)]).ready()


def test_a_setting_may_name_several_instances() -> None:
    assert base_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match="no base URL"):
        base_urls(" , ")
