"""`IdempotencyMiddleware`: `Idempotency-Key` for a route whose resource the middleware cannot
see (deliveries). The first answer that created something (2xx) is replayed to a retry with the
same key and body (`Idempotent-Replayed: true`); a refusal (4xx) frees the key; a request that
failed (5xx), was cut, or whose process died keeps its claim, so a retry is 409 with
`Retry-After` until the claim is `stale_after` old and only then runs again: only a route whose
repetition is harmless may use it. Keys are scoped and bounded as in `shared.idempotency`."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import Disconnected, read_body, replaying, reply, reply_error
from shared.errors import AppError
from shared.idempotency import KEYS, MAX_KEYS_PER_PRINCIPAL, Key, KeyReused, hold, purge, unbind
from shared.principal import SUBJECT_HEADER
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx

log = logging.getLogger("shared.idempotency")

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
STALE_AFTER_SECONDS = 60.0  # longer than any request takes: a claim this old lost its process
_NOT_STORED = {b"date", b"server", b"content-length", b"x-request-id"}


@dataclass(frozen=True)
class Recorded:
    """The first answer that created something: status, headers and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    outcome: Literal["claimed", "replay", "running"]
    recorded: Recorded | None = None


class IdempotencyStore(Protocol):
    """Where the middleware's keys live; `claim` is atomic: of concurrent requests one runs."""

    async def claim(self, key: Key, now: float, stale_after: float) -> Claim: ...

    async def complete(self, key: Key, recorded: Recorded) -> None: ...

    async def release(self, key: Key) -> None: ...


class DocsIdempotencyStore:
    """The middleware's records in a service's own store (its journal, or its Redis prefix)."""

    def __init__(self, docs: Docs | Tables, limit: int = MAX_KEYS_PER_PRINCIPAL) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs
        self.limit = limit

    async def claim(self, key: Key, now: float, stale_after: float) -> Claim:
        async def work(tx: Tx) -> Claim:
            doc = await tx.get(KEYS, key.digest)
            if doc is not None:
                if doc["fingerprint"] != key.fingerprint:
                    raise KeyReused()
                if doc["state"] == "done":
                    return Claim("replay", _recorded(doc))
                if now - doc["at"] < stale_after:
                    return Claim("running")
                await unbind(tx, key.digest)  # its process died: taken again below
            await hold(tx, key, {"fingerprint": key.fingerprint, "state": "running"}, self.limit)
            return Claim("claimed")

        return await self.docs.atomic(work)

    async def complete(self, key: Key, recorded: Recorded) -> None:
        async def work(tx: Tx) -> None:
            doc = await tx.get(KEYS, key.digest)
            if doc is not None:
                headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in recorded.headers]
                body = base64.b64encode(recorded.body).decode()
                tx.put(
                    KEYS,
                    key.digest,
                    {**doc, "state": "done", "status": recorded.status, "headers": headers, "body": body},
                )

        await self.docs.atomic(work)

    async def release(self, key: Key) -> None:
        await self.docs.atomic(lambda tx: unbind(tx, key.digest))

    async def purge(self, older_than: float) -> int:
        return await purge(self.docs, older_than)


def _recorded(doc: dict[str, Any]) -> Recorded:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in doc["headers"]]
    return Recorded(doc["status"], headers, base64.b64decode(doc["body"]))


class IdempotencyMiddleware:
    """Applies `Idempotency-Key` to the given (method, path) pairs, keeping its records in `store`."""

    def __init__(
        self, app: ASGIApp, *, store: IdempotencyStore, routes: set[tuple[str, str]], stale_after: float
    ) -> None:
        self.app = app
        self.store = store
        self.routes = routes
        self.stale_after = stale_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER)
        if raw_key is None or (scope["method"], scope["path"]) not in self.routes:
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive) or b""
        except Disconnected:
            return  # nobody to answer, and a partial request is never acted on
        subject = headers.get(SUBJECT_HEADER.encode(), b"")
        try:
            key = Key.of(raw_key, subject, scope["method"], scope["path"], body)
            claim = await self.store.claim(key, time.time(), self.stale_after)
        except AppError as exc:  # a bad key, another body, too many keys, the store down (503)
            await reply_error(
                send, exc.status, exc.message, [(k.encode(), v.encode()) for k, v in exc.headers.items()]
            )
            return
        if claim.outcome == "replay" and claim.recorded is not None:
            recorded = claim.recorded
            await reply(
                send, recorded.status, recorded.body, [*recorded.headers, REPLAYED], content_type=None
            )
        elif claim.outcome == "running":
            await reply_error(
                send,
                409,
                "A request with this Idempotency-Key is still in progress",
                [(b"retry-after", b"1")],
            )
        else:
            await self._run_and_record(scope, replaying(body, receive), send, key)

    async def _run_and_record(self, scope: Scope, receive: Receive, send: Send, key: Key) -> None:
        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NOT_STORED]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # An exception or a cut (shutdown) leaves the claim: the request may have had its effect.
        await self.app(scope, receive, capture)
        try:
            if 200 <= status < 300:
                await self.store.complete(key, Recorded(status, headers, b"".join(chunks)))
            elif 400 <= status < 500:
                await self.store.release(key)  # refused: nothing was kept, the key may be used again
        except AppError as exc:  # answered already; the claim goes stale on its own
            log.warning("idempotency record not updated", extra={"error": exc.message})
