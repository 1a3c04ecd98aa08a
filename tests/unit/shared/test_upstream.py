"""Upstream calls spread over instances: round robin, a refusing instance skipped, 503/504 mapping,
raw sending and signed calls; and each instance's breaker at work in an upstream of several."""

from __future__ import annotations

import gzip

import httpx
import pytest

from shared import internal
from shared.breaker import CircuitOpen, Protection
from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.http import Upstream, base_urls
from shared.settings import ServiceSettings
from tests.helpers import FakeClock
from tests.unit.fake_instances import instance


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


def gzip_service(seen: list[httpx.Request]) -> httpx.AsyncClient:
    """Answers every request with a gzipped JSON body and a header of its own."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = [(b"Content-Encoding", b"gzip"), (b"X-Note", "café".encode())]
        return httpx.Response(200, content=gzip.compress(b'{"ok": true}', mtime=0), headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://inventory")


async def test_send_passes_the_request_on_as_given_and_the_answer_back_as_it_came() -> None:
    seen: list[httpx.Request] = []
    upstream = Upstream("inventory", gzip_service(seen), secret="s" * 32)

    answer = await upstream.send("PATCH", "/api/books/a%2Fb?q=caf%C3%A9", {"X-Mine": "1"}, b"{}")

    [request] = seen
    assert request.method == "PATCH"
    assert request.url.raw_path == b"/api/books/a%2Fb?q=caf%C3%A9"
    assert request.headers["x-mine"] == "1"
    assert internal.HEADER not in request.headers  # the sender signs what it sends itself
    assert answer.content == gzip.compress(b'{"ok": true}', mtime=0)  # not decompressed
    assert (b"X-Note", "café".encode()) in answer.raw_headers


async def test_call_signs_the_request_and_decompresses_the_answer() -> None:
    seen: list[httpx.Request] = []
    upstream = Upstream("inventory", gzip_service(seen), secret="s" * 32)

    answer = await upstream.call("POST", "/internal/holds", json={"a": 1})

    [request] = seen
    signature = request.headers[internal.HEADER]
    assert internal.verify("s" * 32, signature, "POST", "/internal/holds", body=b'{"a":1}')
    assert not internal.verify("s" * 32, signature, "POST", "/internal/holds", body=b'{"a":2}')
    assert request.content == b'{"a":1}'
    assert answer.json() == {"ok": True}


async def test_from_settings_takes_the_instances_a_setting_names_or_the_instances_themselves() -> None:
    settings = ServiceSettings(max_concurrent_calls=7, INTERNAL_SECRET="s" * 32)
    named = Upstream.from_settings("sales", "http://a:1, http://b:2/", settings)
    given = Upstream.from_settings("sales", [instance("a"), instance("b")], settings)

    assert [i.base_url for i in named.instances] == ["http://a:1", "http://b:2"]
    assert [i.base_url for i in given.instances] == ["http://a", "http://b"]
    assert named.secret == given.secret == "s" * 32
    await named.aclose()
    await given.aclose()


def test_an_upstream_needs_an_instance() -> None:
    with pytest.raises(ValueError, match="no instance of sales"):
        Upstream("sales", [])


# --- in an upstream of several instances ------------------------------------------------------------


async def test_an_instance_that_keeps_timing_out_stops_getting_its_turns() -> None:
    seen: list[str] = []
    clock = FakeClock()
    upstream = Upstream(
        "inventory",
        [instance("slow", seen, httpx.ReadTimeout), instance("fine", seen)],
        Protection(failures=2, clock=clock),
    )

    outcomes = []
    for _ in range(8):
        try:
            outcomes.append((await upstream.call("GET", "/x")).json()["instance"])
        except UpstreamTimeout:
            outcomes.append("504")

    assert outcomes == ["504", "fine", "504", "fine", "fine", "fine", "fine", "fine"]
    assert seen.count("slow") == 2
    assert upstream.breaker_states() == {"http://slow": "open", "http://fine": "closed"}


async def test_with_every_instance_open_the_service_fails_fast_without_calling_it() -> None:
    seen: list[str] = []
    clock = FakeClock()
    upstream = Upstream(
        "inventory",
        [instance("a", seen, httpx.ConnectError), instance("b", seen, httpx.ConnectError)],
        Protection(failures=2, reset_seconds=5.0, clock=clock),
    )
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await upstream.call("GET", "/x")
    seen.clear()
    clock.advance(2.5)

    with pytest.raises(CircuitOpen) as refused:
        await upstream.call("GET", "/x")

    assert seen == []
    assert refused.value.headers["Retry-After"] == "3"
    assert refused.value.message == "The inventory service is unavailable (circuit open)"


async def test_an_upstream_that_answers_503_or_404_is_not_failing() -> None:
    seen: list[str] = []
    upstream = Upstream(
        "inventory",
        [instance("busy", seen, status=503), instance("picky", seen, status=404)],
        Protection(failures=1, clock=FakeClock()),
    )

    statuses = [(await upstream.call("GET", "/x")).status_code for _ in range(6)]

    assert statuses == [503, 404] * 3
    assert set(upstream.breaker_states().values()) == {"closed"}


async def test_an_instance_is_probed_again_after_the_reset_time_and_closes_when_it_answers() -> None:
    seen: list[str] = []
    clock = FakeClock()
    down = True

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append("inventory")
        if down:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://inventory")
    upstream = Upstream("inventory", client, Protection(failures=1, reset_seconds=5.0, clock=clock))
    with pytest.raises(ServiceUnavailable):
        await upstream.call("GET", "/x")
    with pytest.raises(CircuitOpen):
        await upstream.call("GET", "/x")
    assert seen == ["inventory"]

    down = False
    clock.advance(5.0)

    assert (await upstream.call("GET", "/x")).status_code == 200
    assert upstream.breaker_states() == {"http://inventory": "closed"}
