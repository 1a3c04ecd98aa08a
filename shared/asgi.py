"""Raw ASGI, for the layers that run before any framework (the gateway's proxy, the request context,
internal signatures, idempotency): the one way they write a whole answer and read a whole body."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Message, Receive, Send

from shared.errors import error_body

Headers = Sequence[tuple[bytes, bytes]]
JSON = b"application/json"


async def reply(
    send: Send, status: int, body: bytes, headers: Headers = (), content_type: bytes | None = JSON
) -> None:
    """Send a whole answer; `content_type` None when `headers` carry their own (a forwarded answer)."""
    raw = list(headers)
    if content_type is not None:
        raw.append((b"content-type", content_type))
    if status not in (204, 304):  # RFC 9110 §8.6: these carry no Content-Length
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def reply_error(send: Send, status: int, message: str, headers: Headers = ()) -> None:
    """The contract's error envelope (with the request's id) as a whole answer."""
    await reply(send, status, error_body(message), headers)


class Disconnected(Exception):
    """The client went away before its whole body arrived: what did arrive must not be acted on."""


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or None once it passes `limit` bytes; Disconnected if the client went
    away first (a truncated body is never taken for the whole one)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` (already read whole) once, then waits on `receive` (for the
    client's going away)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
