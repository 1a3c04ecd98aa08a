"""The Idempotency-Key middleware (deliveries): a store error is a 503 in the envelope, never a 500;
a request that was cut or failed keeps its claim (it may have had its effect); a refusal frees
the key; only an answer that created something is replayed."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from shared.asgi import reply
from shared.errors import ServiceUnavailable
from shared.idempotency import KEYS, Key
from shared.idempotency_middleware import Claim, DocsIdempotencyStore, IdempotencyMiddleware
from shared.store import Tables

ROUTE = ("POST", "/things")


class Thing:
    """An app that answers the status it is told to, or raises."""

    def __init__(self) -> None:
        self.status = 201
        self.raises: BaseException | None = None
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        await reply(send, self.status, b'{"id": 1}', [])


class DownStore(DocsIdempotencyStore):
    async def claim(self, key: Key, now: float, stale_after: float) -> Claim:
        raise ServiceUnavailable("The store is unavailable", retry_after=2)


def client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://svc", headers={"Idempotency-Key": "k"})


async def test_a_store_error_is_503_in_the_envelope() -> None:
    app = IdempotencyMiddleware(Thing(), store=DownStore(Tables()), routes={ROUTE}, stale_after=60)
    async with client(app) as c:
        response = await c.post("/things", json={})

    assert response.status_code == 503
    assert response.json()["error"] == "The store is unavailable"
    assert response.headers["retry-after"] == "2"


async def test_a_cut_request_keeps_its_claim_and_a_refusal_frees_the_key() -> None:
    thing, store = Thing(), DocsIdempotencyStore(Tables())
    app = IdempotencyMiddleware(thing, store=store, routes={ROUTE}, stale_after=60)
    async with client(app) as c:
        thing.raises = asyncio.CancelledError()  # shutdown cut it: it may have had its effect
        await asyncio.gather(c.post("/things", json={}), return_exceptions=True)
        thing.raises = None
        retry = await c.post("/things", json={})
        thing.status = 409
        refused = await c.post("/things", json={"other": 1}, headers={"Idempotency-Key": "r"})
        thing.status = 201
        again = await c.post("/things", json={"other": 1}, headers={"Idempotency-Key": "r"})

    assert retry.status_code == 409
    assert retry.json()["error"] == "A request with this Idempotency-Key is still in progress"
    assert (refused.status_code, again.status_code) == (409, 201)
    assert "idempotent-replayed" not in again.headers
    assert thing.calls == 3
    assert len(await store.docs.keys(KEYS)) == 2


async def test_only_a_created_answer_is_replayed() -> None:
    thing, store = Thing(), DocsIdempotencyStore(Tables())
    app = IdempotencyMiddleware(thing, store=store, routes={ROUTE}, stale_after=60)
    async with client(app) as c:
        first = await c.post("/things", json={})
        again = await c.post("/things", json={})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert thing.calls == 1
