"""Shedding: a bound on requests in flight per route class, a short line with a deadline, then a
503 with Retry-After at once; a request whose client left, or that waited too long, never starts.
No timing: the fake handler holds its place until the test lets it go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from shared.admission import ADMITTED, LATE, AdmissionMiddleware, Bounds, Gate
from tests.helpers import sample

LONG = 3600.0  # a deadline no test reaches


class Held:
    """An app that records which requests started and holds each until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.bodies: dict[str, bytes] = {}
        self.release = asyncio.Event()
        self.entered = asyncio.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies[name] = body
        async with self.entered:
            self.started.append(name)
            self.entered.notify_all()
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def until_started(self, count: int) -> None:
        async with self.entered:
            await self.entered.wait_for(lambda: len(self.started) >= count)


class Client:
    """One request's two ends: what it sends (body, then maybe a disconnect) and what it gets."""

    def __init__(self, path: str, method: str = "POST", body: bytes = b"{}") -> None:
        self.scope: Scope = {"type": "http", "method": method, "path": path, "headers": []}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": body, "more_body": False})
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    def header(self, name: bytes) -> bytes | None:
        return dict(self.sent[0]["headers"]).get(name)

    def json(self) -> Any:
        return orjson.loads(self.sent[1]["body"])


def gatekeeper(
    app: Held, reads: int = 1, writes: int = 1, queue: int = 1, wait: float = LONG
) -> AdmissionMiddleware:
    return AdmissionMiddleware(app, bounds=Bounds(reads, writes, queue, wait, retry_after=2))


def run(middleware: AdmissionMiddleware, client: Client) -> asyncio.Task[None]:
    return asyncio.create_task(middleware(client.scope, client.receive, client.send))


async def until(condition: Callable[[], bool]) -> None:
    """Lets the other tasks run until `condition` holds (a bounded number of turns, no clock)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


def shed(kind: str, reason: str) -> float:
    return sample("http_requests_shed_total", **{"class": kind, "reason": reason})


async def queued(middleware: AdmissionMiddleware, kind: str, count: int) -> None:
    """Until `count` requests wait in the `kind` line."""
    await until(lambda: middleware.gates[kind].waiting >= count)


async def forever() -> None:
    await asyncio.Event().wait()


async def test_beyond_the_bound_and_the_line_a_request_is_refused_at_once_with_retry_after() -> None:
    app = Held()
    middleware = gatekeeper(app, writes=2, queue=1)
    clients = [Client(f"/w{n}") for n in range(4)]
    tasks = [run(middleware, c) for c in clients[:3]]
    await app.until_started(2)
    await queued(middleware, "writes", 1)

    before = shed("writes", "full")
    await middleware(clients[3].scope, clients[3].receive, clients[3].send)  # returns: not held

    assert shed("writes", "full") == before + 1
    refused = clients[3]
    assert refused.status == 503
    assert refused.header(b"retry-after") == b"2"
    assert refused.json()["error"] == "Overloaded: try again shortly"
    assert app.started == ["/w0", "/w1"]
    app.release.set()
    await asyncio.gather(*tasks)
    assert [c.status for c in clients[:3]] == [200, 200, 200]
    assert app.started == ["/w0", "/w1", "/w2"]  # the one in line ran once a place was free


async def test_requests_in_line_start_in_their_order() -> None:
    app = Held()
    middleware = gatekeeper(app, writes=1, queue=3)
    clients = [Client(f"/w{n}") for n in range(4)]
    tasks = [run(middleware, clients[0])]
    await app.until_started(1)
    for n, client in enumerate(clients[1:], start=1):
        tasks.append(run(middleware, client))
        await queued(middleware, "writes", n)

    app.release.set()
    await asyncio.gather(*tasks)

    assert app.started == ["/w0", "/w1", "/w2", "/w3"]


async def test_a_request_whose_client_left_while_in_line_never_starts() -> None:
    app = Held()
    middleware = gatekeeper(app, writes=1, queue=2)
    first, leaving, staying = Client("/first"), Client("/leaving"), Client("/staying")
    tasks = [run(middleware, first)]
    await app.until_started(1)
    tasks.append(run(middleware, leaving))
    await queued(middleware, "writes", 1)
    tasks.append(run(middleware, staying))
    await queued(middleware, "writes", 2)

    before = shed("writes", "gone")
    leaving.leave()
    await tasks[1]
    assert shed("writes", "gone") == before + 1
    assert middleware.gates["writes"].waiting == 1  # its place in line is free again
    app.release.set()
    await asyncio.gather(*tasks)

    assert app.started == ["/first", "/staying"]
    assert leaving.status == 503  # nobody reads it; the server drops it with the connection


async def test_a_request_that_waited_past_the_deadline_never_starts() -> None:
    app = Held()
    middleware = gatekeeper(app, writes=1, queue=1, wait=0.01)
    first, late = Client("/first"), Client("/late")
    held = run(middleware, first)
    await app.until_started(1)

    before = shed("writes", "late")
    await middleware(late.scope, late.receive, late.send)  # the first never lets go: the line times out
    assert shed("writes", "late") == before + 1

    assert late.status == 503
    assert late.header(b"retry-after") == b"2"
    assert middleware.gates["writes"].waiting == 0
    app.release.set()
    await held
    assert app.started == ["/first"]


async def test_the_body_that_arrived_while_in_line_reaches_the_handler() -> None:
    app = Held()
    middleware = gatekeeper(app, writes=1, queue=1)
    first, second = Client("/first"), Client("/second", body=b'{"delta": 5}')
    tasks = [run(middleware, first)]
    await app.until_started(1)
    tasks.append(run(middleware, second))
    await queued(middleware, "writes", 1)
    await until(second.inbox.empty)  # the line listens for a disconnect, and keeps what it reads

    app.release.set()
    await asyncio.gather(*tasks)

    assert app.bodies["/second"] == b'{"delta": 5}'


async def test_reads_and_writes_are_bounded_apart() -> None:
    app = Held()
    middleware = gatekeeper(app, reads=1, writes=1, queue=0)
    write, read = Client("/w"), Client("/r", method="GET")
    another_write = Client("/w2")
    tasks = [run(middleware, write)]
    await app.until_started(1)

    tasks.append(run(middleware, read))
    await app.until_started(2)
    await middleware(another_write.scope, another_write.receive, another_write.send)

    assert another_write.status == 503
    app.release.set()
    await asyncio.gather(*tasks)
    assert (write.status, read.status) == (200, 200)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_health_readiness_and_metrics_are_never_shed(path: str) -> None:
    app = Held()
    middleware = gatekeeper(app, reads=1, queue=0)
    busy = run(middleware, Client("/busy", method="GET"))
    await app.until_started(1)

    probe = run(middleware, Client(path, method="GET"))
    await app.until_started(2)

    assert app.started == ["/busy", path]
    app.release.set()
    await asyncio.gather(busy, probe)


async def test_a_waiter_cancelled_after_being_handed_a_place_passes_it_on() -> None:
    gate = Gate(limit=1, queue=2)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter(forever(), LONG))
    second = asyncio.create_task(gate.enter(forever(), LONG))
    await until(lambda: gate.waiting >= 2)

    gate.leave()  # the place goes to the first in line...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first

    assert await second == ADMITTED
    assert gate.in_flight == 1
    gate.leave()
    assert gate.in_flight == 0


async def test_a_burst_waits_its_turn_but_a_standing_queue_refuses_newcomers_at_once() -> None:
    """A line that emptied within `standing_after` is a burst: its requests wait their turn. One
    that has not emptied for that long is overload: a newcomer waits at most `standing_wait`, so
    past the peak the line holds only what is served at once. Once it empties, bursts wait again."""
    gate = Gate(limit=1, queue=10, standing_wait=0.01, standing_after=0.2)
    assert gate.try_enter()
    burst = [asyncio.create_task(gate.enter(forever(), LONG)) for _ in range(3)]
    await until(lambda: gate.waiting == 3)

    await asyncio.sleep(0.25)  # the line has not emptied for longer than standing_after
    newcomer = await asyncio.wait_for(gate.enter(forever(), LONG), 5)  # a line without the rule waits on

    assert newcomer == LATE  # after standing_wait, not LONG
    assert gate.waiting == 3  # the burst keeps its places
    for task in burst:  # each is handed the place in turn
        gate.leave()
        assert await task == ADMITTED
    assert gate.waiting == 0

    late_joiner = asyncio.create_task(gate.enter(forever(), LONG))  # the line starts afresh
    await until(lambda: gate.waiting == 1)
    await asyncio.sleep(0.05)
    assert not late_joiner.done()  # still waiting: well past standing_wait
    gate.leave()
    assert await late_joiner == ADMITTED
    gate.leave()
    assert gate.in_flight == 0
