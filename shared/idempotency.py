"""`Idempotency-Key` for POSTs that create things. A key is scoped to the caller (the principal's
subject), the method and the path, and remembered with the request's fingerprint (another body
with the same key is 409).

Two ways to keep a key:
- bound to what the request created (`bind`, in the same store transaction that creates it): a
  retry is answered from that thing's current state; a request that created nothing binds nothing.
  Sales' orders work this way.
- `IdempotencyMiddleware`, for a route whose resource the middleware cannot see (deliveries): the
  first answer that created something (2xx) is replayed; a refusal (4xx) frees the key; a request
  that failed, was cut, or whose process died keeps its claim, taken again only after
  `stale_after`, so only a route whose repetition is harmless may use it.

Each principal holds at most `limit` keys; records are purged after their time to live.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import read_body, reply, reply_error
from shared.errors import AppError, BadRequest, Conflict
from shared.principal import SUBJECT_HEADER
from shared.store import Tables
from shared.store.docs import Docs, TablesDocs, Tx
from shared.tasks import periodic

log = logging.getLogger("shared.idempotency")

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
MAX_KEY_LENGTH = 255
MAX_KEYS_PER_PRINCIPAL = 1000
STALE_AFTER_SECONDS = 60.0  # longer than any request takes: a claim this old lost its process
KEYS, HOLDERS = "idempotency", "idempotency_holders"
_NOT_STORED = {b"date", b"server", b"content-length", b"x-request-id"}


class KeyReused(Conflict):
    message = "Idempotency-Key was already used with a different request body"


class TooManyKeys(AppError):
    status = 429
    message = "Too many Idempotency-Keys held; retry later or without a key"


@dataclass(frozen=True)
class Key:
    """A client's key scoped to its principal, method and path, with its request's fingerprint."""

    digest: str
    holder: str
    fingerprint: str

    @classmethod
    def of(cls, raw: bytes, subject: bytes, method: str, path: str, body: bytes) -> Key:
        if not 1 <= len(raw) <= MAX_KEY_LENGTH:
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        digest = hashlib.sha256(b"\n".join([subject, method.encode(), path.encode(), raw])).hexdigest()
        return cls(digest, subject.decode("latin-1"), fingerprint(body))


async def request_key(request: Request) -> Key | None:
    """The request's Idempotency-Key, scoped to its caller, method and path (None without one)."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    subject = request.headers.get(SUBJECT_HEADER, "").encode("latin-1")
    return Key.of(raw.encode("latin-1"), subject, request.method, request.url.path, await request.body())


def fingerprint(body: bytes) -> str:
    """The same JSON however it is spaced or its keys ordered; other bodies byte for byte."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


async def bound(tx: Tx, key: Key) -> str | None:
    """What `key` is bound to (None: nothing); KeyReused if it came with another body."""
    doc = await tx.get(KEYS, key.digest)
    if doc is None:
        return None
    if doc["fingerprint"] != key.fingerprint:
        raise KeyReused()
    return str(doc["target"])


async def bind(tx: Tx, key: Key, target: str, limit: int = MAX_KEYS_PER_PRINCIPAL) -> str | None:
    """Bind `key` to `target` in `tx`; what it was bound to already (then nothing is written)."""
    if (existing := await bound(tx, key)) is not None:
        return existing
    await _hold(tx, key, {"fingerprint": key.fingerprint, "target": target}, limit)
    return None


async def unbind(tx: Tx, digest: str) -> None:
    doc = await tx.get(KEYS, digest)
    if doc is not None:
        tx.delete(KEYS, digest)
        await _count(tx, doc.get("holder", ""), -1)


async def _hold(tx: Tx, key: Key, doc: dict[str, Any], limit: int) -> None:
    if await _count(tx, key.holder, +1) > limit:
        raise TooManyKeys(headers={"Retry-After": "60"})
    tx.put(KEYS, key.digest, {**doc, "holder": key.holder, "at": time.time()})


async def _count(tx: Tx, holder: str, change: int) -> int:
    n = max(0, int(await tx.get(HOLDERS, holder) or 0) + change)
    if n:
        tx.put(HOLDERS, holder, n)
    else:
        tx.delete(HOLDERS, holder)
    return n


async def purge(docs: Docs, older_than: float) -> int:
    """Forget the keys recorded before `older_than` (epoch seconds)."""
    purged = 0
    for digest in await docs.keys(KEYS):

        async def work(tx: Tx, digest: str = digest) -> bool:
            doc = await tx.get(KEYS, digest)
            if doc is None or doc["at"] >= older_than:
                return False
            await unbind(tx, digest)
            return True

        purged += await docs.atomic(work)
    return purged


def purging(
    purge_before: Callable[[float], Awaitable[int]], ttl_hours: float
) -> AbstractAsyncContextManager[None]:
    """While open, purge the records older than `ttl_hours` every hour."""

    async def run() -> None:
        await purge_before(time.time() - ttl_hours * 3600)

    return periodic("purge-idempotency-keys", 3600, run)


# --- the middleware, for routes whose repetition is harmless ------------------------------------


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
            await _hold(tx, key, {"fingerprint": key.fingerprint, "state": "running"}, self.limit)
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
        body = await read_body(receive) or b""
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
            await self._run_and_record(scope, body, send, key)

    async def _run_and_record(self, scope: Scope, body: bytes, send: Send, key: Key) -> None:
        status, headers, chunks = 500, [], []
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NOT_STORED]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # An exception or a cut (shutdown) leaves the claim: the request may have had its effect.
        await self.app(scope, replay_body, capture)
        try:
            if 200 <= status < 300:
                await self.store.complete(key, Recorded(status, headers, b"".join(chunks)))
            elif 400 <= status < 500:
                await self.store.release(key)  # refused: nothing was kept, the key may be used again
        except AppError as exc:  # answered already; the claim goes stale on its own
            log.warning("idempotency record not updated", extra={"error": exc.message})
