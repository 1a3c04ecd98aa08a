"""The aiohttp client every service calls its upstreams with, against real loopback servers: signed
calls with the request id, a refused connection skipped for the next instance, a timeout as 504."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from devtools.system import free_port_block
from shared import internal
from shared.context import request_id_var
from shared.errors import ServiceUnavailable, UpstreamTimeout
from shared.http import AiohttpInstance, Upstream

SECRET = "s" * 32


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    signed = (
        internal.verify(
            SECRET, request.headers.get(internal.HEADER, ""), request.method, request.raw_path, body=body
        )
        is not None
    )
    return web.json_response(
        {"signed": signed, "request_id": request.headers.get("x-request-id"), "body": body.decode()}
    )


async def _gzipped(request: web.Request) -> web.Response:
    headers = {"Content-Encoding": "gzip", "X-Path": request.raw_path}
    return web.Response(
        body=gzip.compress(b'{"ok": true}', mtime=0), headers=headers, content_type="application/json"
    )


async def _slow(_: web.Request) -> web.Response:
    await asyncio.sleep(1)
    return web.json_response({})


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", _echo)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/gzipped/{tail:.*}", _gzipped)
    app.router.add_get("/healthz", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port_block(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _instance(url: str, request_timeout: float = 5.0) -> AiohttpInstance:
    return AiohttpInstance(url, connect_timeout=1.0, request_timeout=request_timeout)


async def test_a_call_is_signed_and_carries_the_request_id_and_the_body(server_url: str) -> None:
    upstream = Upstream("inventory", [_instance(server_url)], secret=SECRET)
    token = request_id_var.set("req-42")
    try:
        response = await upstream.call("POST", "/echo/order%2F1/commit", json={"a": 1})
    finally:
        request_id_var.reset(token)
        await upstream.aclose()

    assert response.status_code == 200
    assert response.json() == {"signed": True, "request_id": "req-42", "body": '{"a":1}'}


async def test_a_refused_connection_goes_to_the_next_instance(server_url: str) -> None:
    closed = f"http://127.0.0.1:{free_port_block(1)}"
    upstream = Upstream("inventory", [_instance(closed), _instance(server_url)])
    try:
        statuses = [(await upstream.call("GET", "/echo/x")).status_code for _ in range(4)]
        await upstream.ready()
    finally:
        await upstream.aclose()

    assert statuses == [200] * 4


async def test_nobody_listening_is_503_and_not_ready() -> None:
    upstream = Upstream("sales", [_instance(f"http://127.0.0.1:{free_port_block(1)}")])
    try:
        with pytest.raises(ServiceUnavailable):
            await upstream.call("GET", "/x")
        with pytest.raises(RuntimeError, match="ClientConnectorError"):
            await upstream.ready()
    finally:
        await upstream.aclose()


async def test_an_answer_slower_than_the_request_timeout_is_504(server_url: str) -> None:
    upstream = Upstream("inventory", [_instance(server_url, request_timeout=0.2)])
    try:
        with pytest.raises(UpstreamTimeout):
            await upstream.call("GET", "/slow")
    finally:
        await upstream.aclose()


async def test_send_keeps_the_path_byte_for_byte_and_the_answer_compressed_and_call_decodes_it(
    server_url: str,
) -> None:
    upstream = Upstream("inventory", [_instance(server_url)])
    try:
        sent = await upstream.send("GET", "/gzipped/a%2Fb/%2e%2e/c?q=caf%C3%A9", {}, None)
        called = await upstream.call("GET", "/gzipped/x")
    finally:
        await upstream.aclose()

    assert sent.content == gzip.compress(b'{"ok": true}', mtime=0)
    assert (b"Content-Encoding", b"gzip") in sent.raw_headers
    assert (b"X-Path", b"/gzipped/a%2Fb/%2e%2e/c?q=caf%C3%A9") in sent.raw_headers
    assert called.json() == {"ok": True}
