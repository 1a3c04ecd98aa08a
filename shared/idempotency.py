"""`Idempotency-Key` for POSTs that create things: a retry with the same key and body gets the first
response again (with `Idempotent-Replayed: true`) and creates nothing.

Keys are scoped to the caller (the principal's subject), the method and the path. The same key with
another body is 409; so is a retry while the first request is still running. A claim left by a
process that died mid-request counts as abandoned after `stale_after` seconds. Records are kept
`ttl` seconds (at least 24 h) and then purged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import Disconnected, read_body, replaying, reply, reply_error
from shared.principal import SUBJECT_HEADER
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx
from shared.tasks import periodic

log = logging.getLogger("shared.idempotency")

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
MAX_KEY_LENGTH = 255
STALE_AFTER_SECONDS = 60.0  # longer than any request takes: a claim this old lost its process
_NOT_STORED = {b"date", b"server", b"content-length", b"x-request-id"}


@dataclass(frozen=True)
class Recorded:
    """The first response to a key: status, headers and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    outcome: Literal["claimed", "replay", "mismatch", "running"]
    recorded: Recorded | None = None


class IdempotencyStore(Protocol):
    """Where keys live; `claim` is atomic, so of concurrent requests with one key only one runs."""

    async def claim(self, key: str, fingerprint: str, now: float, stale_after: float) -> Claim: ...

    async def complete(self, key: str, recorded: Recorded) -> None: ...

    async def release(self, key: str) -> None: ...

    async def purge(self, older_than: float) -> int: ...


class DocsIdempotencyStore:
    """Idempotency records in a service's own store (its journal, or its Redis prefix)."""

    TABLE = "idempotency"

    def __init__(self, docs: Docs | Tables) -> None:
        self.docs = TablesDocs(docs) if isinstance(docs, Tables) else docs

    async def claim(self, key: str, fingerprint: str, now: float, stale_after: float) -> Claim:
        async def work(tx: Tx) -> Claim:
            doc = await tx.get(self.TABLE, key)
            if doc is not None:
                if doc["fingerprint"] != fingerprint:
                    return Claim("mismatch")
                if doc["state"] == "done":
                    return Claim("replay", _recorded(doc))
                if now - doc["at"] < stale_after:
                    return Claim("running")
            tx.put(self.TABLE, key, {"fingerprint": fingerprint, "state": "running", "at": now})
            return Claim("claimed")

        return await self.docs.atomic(work)

    async def complete(self, key: str, recorded: Recorded) -> None:
        async def work(tx: Tx) -> None:
            doc = await tx.get(self.TABLE, key)
            if doc is not None:
                tx.put(
                    self.TABLE,
                    key,
                    {
                        **doc,
                        "state": "done",
                        "status": recorded.status,
                        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in recorded.headers],
                        "body": base64.b64encode(recorded.body).decode(),
                    },
                )

        await self.docs.atomic(work)

    async def release(self, key: str) -> None:
        async def work(tx: Tx) -> None:
            tx.delete(self.TABLE, key)

        await self.docs.atomic(work)

    async def purge(self, older_than: float) -> int:
        purged = 0
        for key in await self.docs.keys(self.TABLE):

            async def work(tx: Tx, key: str = key) -> bool:
                doc = await tx.get(self.TABLE, key)
                if doc is None or doc["at"] >= older_than:
                    return False
                tx.delete(self.TABLE, key)
                return True

            purged += await self.docs.atomic(work)
        return purged


def purging(store: IdempotencyStore, ttl_hours: float) -> AbstractAsyncContextManager[None]:
    """While open, purge the records older than `ttl_hours` every hour."""

    async def purge() -> None:
        await store.purge(time.time() - ttl_hours * 3600)

    return periodic("purge-idempotency-keys", 3600, purge)


def _recorded(doc: dict[str, Any]) -> Recorded:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in doc["headers"]]
    return Recorded(doc["status"], headers, base64.b64decode(doc["body"]))


def fingerprint(body: bytes) -> str:
    """The same JSON however it is spaced or its keys ordered; other bodies byte for byte."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


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
        if not 1 <= len(raw_key) <= MAX_KEY_LENGTH:
            await reply_error(send, 400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
            return
        try:
            body = await read_body(receive) or b""
        except Disconnected:
            return  # nobody to answer, and a partial request is never acted on
        subject = headers.get(SUBJECT_HEADER.encode(), b"")
        key = hashlib.sha256(
            b"\n".join([subject, scope["method"].encode(), scope["path"].encode(), raw_key])
        ).hexdigest()
        store = self.store
        claim = await store.claim(key, fingerprint(body), time.time(), self.stale_after)
        if claim.outcome == "replay" and claim.recorded is not None:
            recorded = claim.recorded
            await reply(
                send, recorded.status, recorded.body, [*recorded.headers, REPLAYED], content_type=None
            )
        elif claim.outcome == "mismatch":
            await reply_error(send, 409, "Idempotency-Key was already used with a different request body")
        elif claim.outcome == "running":
            await reply_error(
                send,
                409,
                "A request with this Idempotency-Key is still in progress",
                [(b"retry-after", b"1")],
            )
        else:
            await self._run_and_record(scope, replaying(body, receive), send, store, key)

    async def _run_and_record(
        self, scope: Scope, receive: Receive, send: Send, store: IdempotencyStore, key: str
    ) -> None:
        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NOT_STORED]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await store.release(key)  # nothing was answered: the key may be used again
            raise
        await store.complete(key, Recorded(status, headers, b"".join(chunks)))
