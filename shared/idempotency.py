"""`Idempotency-Key` for POSTs that create things. A key is scoped to the caller (the principal's
subject), the method and the path, and remembered with the request's fingerprint (another body
with the same key is 409).

A key is bound to what the request created (`bind`, in the same store transaction that creates
it): a retry is answered from that thing's current state; a request that created nothing binds
nothing. Every route that takes a key works this way.

Each principal holds at most `limit` keys; records are purged after their time to live.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from shared.errors import AppError, BadRequest, Conflict
from shared.principal import SUBJECT_HEADER
from shared.store.docs import Docs, Tx
from shared.tasks import periodic

log = logging.getLogger("shared.idempotency")

MAX_KEY_LENGTH = 255
MAX_KEYS_PER_PRINCIPAL = 1000
KEYS, HOLDERS = "idempotency", "idempotency_holders"
OLD_KEY = "This Idempotency-Key was used before an upgrade; send a new key"


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
    if "target" not in doc:  # recorded by the old middleware before an upgrade: what it made is unknown
        raise Conflict(OLD_KEY)
    return str(doc["target"])


async def bind(tx: Tx, key: Key, target: str, limit: int = MAX_KEYS_PER_PRINCIPAL) -> str | None:
    """Bind `key` to `target` in `tx`; what it was bound to already (then nothing is written)."""
    if (existing := await bound(tx, key)) is not None:
        return existing
    await hold(tx, key, {"fingerprint": key.fingerprint, "target": target}, limit)
    return None


async def unbind(tx: Tx, digest: str) -> None:
    doc = await tx.get(KEYS, digest)
    if doc is not None:
        tx.delete(KEYS, digest)
        await _count(tx, doc.get("holder", ""), -1)


async def hold(tx: Tx, key: Key, doc: dict[str, Any], limit: int) -> None:
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
