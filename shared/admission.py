"""Shed, do not queue: a bound on the requests in flight per route class (reads, writes), a short
queue with a deadline in front of it, and a fast 503 with `Retry-After` in the envelope beyond that.

Admitted requests stay fast because no more than the bound run at once; the rest are refused at
once rather than waiting in accept queues and event loops that nothing bounds. A queued request
whose client has gone, or that waited longer than the deadline, is dropped before it starts.

The line tells a burst from overload as CoDel does (Nichols and Jacobson, "Controlling Queue
Delay", 2012; Facebook's server queues work the same way): a line that has emptied within the last
`standing_after` seconds is a burst, and its requests may wait up to `wait_seconds` (200 buyers at
once are all served); a line that has not emptied for that long is a standing queue, more work
arriving than the process can do, and a request joining it waits at most `standing_wait` before
it is refused. So past the peak the line holds only what is served within `standing_wait`, and an
admitted request's latency stays near what it is below the peak.
Health, readiness and metrics are never shed: an overloaded process is still alive and says so.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import reply_error
from shared.settings import ServiceSettings

READS = frozenset({"GET", "HEAD", "OPTIONS"})
NEVER_SHED = frozenset({"/healthz", "/readyz", "/metrics"})
OVERLOADED = "Overloaded: try again shortly"
# What `Gate.enter` answers: a place, or why not (the `reason` label of SHED).
ADMITTED, FULL, LATE, GONE = "admitted", "full", "late", "gone"
SHED = Counter(
    "http_requests_shed_total",
    "Requests refused with 503 before they started, by class (reads, writes) and reason: full (the"
    " line was full), late (waited past the deadline), gone (the client left while waiting).",
    ["class", "reason"],
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """How many requests of a class may run at once, wait in line, and for how long."""

    reads: int
    writes: int
    queue: int  # per class
    wait_seconds: float
    retry_after: int
    standing_wait: float = 0.005  # the most a request waits in a standing queue
    standing_after: float = 0.5  # a line not empty for this long is a standing queue

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Bounds:
        return cls(
            reads=settings.max_in_flight_reads,
            writes=settings.max_in_flight_writes,
            queue=settings.max_queued,
            wait_seconds=settings.max_queue_wait_seconds,
            retry_after=settings.overload_retry_after_seconds,
            standing_wait=settings.standing_queue_wait_seconds,
            standing_after=settings.standing_queue_after_seconds,
        )


class Gate:
    """At most `limit` holders at once, at most `queue` waiting (first come, first served); a
    line that has not been empty for `standing_after` seconds lets a newcomer wait at most
    `standing_wait` (see the module's docstring)."""

    def __init__(
        self, limit: int, queue: int, standing_wait: float = 0.005, standing_after: float = 0.5
    ) -> None:
        if limit < 1 or queue < 0:
            raise ValueError("a gate needs limit >= 1 and queue >= 0")
        self.limit = limit
        self.queue = queue
        self.standing_wait = standing_wait
        self.standing_after = standing_after
        self.in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._busy_since = 0.0  # when the line last went from empty to waiting (loop time)

    def _deadline(self, now: float, deadline: float) -> float:
        """How long a request joining the line now may wait."""
        if self._waiting and now - self._busy_since >= self.standing_after:
            return min(deadline, self.standing_wait)
        return deadline

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def try_enter(self) -> bool:
        """Takes a place at once when one is free and nobody waits before us."""
        if self.in_flight < self.limit and not self._waiting:
            self.in_flight += 1
            return True
        return False

    async def enter(self, gone: Coroutine[Any, Any, None], deadline: float) -> str:
        """ADMITTED (a place is held), or why not: FULL (the line is), GONE (`gone` returned
        first), LATE (`deadline` seconds passed first); then nothing is held."""
        if self.try_enter():
            gone.close()  # never started: nothing to listen for
            return ADMITTED
        if len(self._waiting) >= self.queue:
            gone.close()
            return FULL
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = self._deadline(now, deadline)
        if not self._waiting:
            self._busy_since = now
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append(turn)
        gone_task = asyncio.create_task(gone)
        try:
            done, _ = await asyncio.wait({turn, gone_task}, timeout=deadline, return_when="FIRST_COMPLETED")
        except BaseException:  # the request itself was cancelled: a place handed over goes on
            if turn.done() and not turn.cancelled():
                self.leave()
            raise
        finally:
            gone_task.cancel()
            if not turn.done():
                turn.cancel()
                self._waiting.remove(turn)
        if not turn.done() or turn.cancelled():
            return GONE if gone_task in done else LATE
        if gone_task in done:  # handed a place and gone at the same moment: pass the place on
            self.leave()
            return GONE
        return ADMITTED

    def leave(self) -> None:
        """Gives the place to the first in line, or frees it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1


class AdmissionMiddleware:
    """Pure ASGI: admits each HTTP request through its class's gate, or answers 503 at once."""

    def __init__(self, app: ASGIApp, *, bounds: Bounds) -> None:
        self.app = app
        self.bounds = bounds
        self.gates = {
            kind: Gate(limit, bounds.queue, bounds.standing_wait, bounds.standing_after)
            for kind, limit in (("reads", bounds.reads), ("writes", bounds.writes))
        }
        self._shed = {
            (kind, why): SHED.labels(kind, why) for kind in self.gates for why in (FULL, LATE, GONE)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        kind = "reads" if scope["method"] in READS else "writes"
        gate = self.gates[kind]
        if gate.try_enter():
            admitted: Receive | str = receive
        else:
            admitted = await self._wait(gate, receive)
        if isinstance(admitted, str):
            self._shed[kind, admitted].inc()
            scope.setdefault("state", {})["error"] = f"{OVERLOADED} ({kind}: {admitted})"
            retry_after = (b"retry-after", b"%d" % self.bounds.retry_after)
            await reply_error(send, 503, OVERLOADED, [retry_after])
            return
        try:
            await self.app(scope, admitted, send)
        finally:
            gate.leave()

    async def _wait(self, gate: Gate, receive: Receive) -> Receive | str:
        """Waits in line while listening for the client going away; the receive the request then
        runs with (what arrived meanwhile first), or why it was dropped."""
        listener = _Listener(receive)
        outcome = await gate.enter(listener.gone(), self.bounds.wait_seconds)
        return listener.replay if outcome == ADMITTED else outcome


class _Listener:
    """Reads the request's messages while it waits, keeping them for the handler, so a client
    that disconnects in line is noticed before its request starts."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._kept: deque[Message] = deque()

    async def gone(self) -> None:
        """Returns once the client has disconnected (cancelled when the request is admitted)."""
        while True:
            message = await self._receive()
            self._kept.append(message)
            if message["type"] == "http.disconnect":
                return

    async def replay(self) -> Message:
        if self._kept:
            return self._kept.popleft()
        return await self._receive()
