"""What crosses the gateway in headers: the client's end-to-end headers on, ours added (principal,
request id, trace, forwarding chain, signature); hop-by-hop ones and those we set ourselves dropped,
both ways."""

from __future__ import annotations

import re

from multidict import CIMultiDict
from starlette.types import Scope

from shared import internal, tracing
from shared.asgi import Headers
from shared.context import REQUEST_ID_HEADER, request_id_var
from shared.principal import ROLES_HEADER, SUBJECT_HEADER, TRUSTED_PREFIXES, Principal

# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself.
_DROP_REQUEST = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "expect",
    REQUEST_ID_HEADER,
    tracing.HEADER,  # replaced by ours: the same trace, with this hop's span as the parent
}
_DROP_RESPONSE = {
    name.encode()
    for name in (
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        "server",
        REQUEST_ID_HEADER,
    )
}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def outbound(
    scope: Scope, principal: Principal, secret: str | None, body: bytes = b""
) -> CIMultiDict[str] | None:
    """The client's end-to-end headers plus ours, signed (with `body`) when a secret is set; None if
    one cannot be sent on unchanged.

    aiohttp writes header values as UTF-8 and refuses control characters, so only such values
    arrive at the service byte for byte. Headers named in `Connection` are hop-by-hop too.
    """
    try:
        incoming = [(k.decode("latin-1").lower(), v.decode("utf-8")) for k, v in scope["headers"]]
    except UnicodeDecodeError:
        return None
    if any(_CONTROL.search(v) for _, v in incoming):
        return None
    hop = _DROP_REQUEST | {
        token.strip().lower() for k, v in incoming if k == "connection" for token in v.split(",")
    }
    forward = CIMultiDict((k, v) for k, v in incoming if k not in hop and not k.startswith(TRUSTED_PREFIXES))
    who = principal.headers()
    forward.update(who)
    forward[REQUEST_ID_HEADER] = request_id_var.get() or ""
    traceparent = tracing.outgoing()
    if traceparent:
        forward[tracing.HEADER] = traceparent
    client = scope.get("client")
    if client:
        prior = next((v for k, v in incoming if k == "x-forwarded-for"), None)
        forward["x-forwarded-for"] = f"{prior}, {client[0]}" if prior else client[0]
    if secret:
        target = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        forward[internal.HEADER] = internal.sign(
            secret, scope["method"], target, who[SUBJECT_HEADER], who[ROLES_HEADER], body
        )
    return forward


def inbound(raw: Headers, extra: Headers) -> list[tuple[bytes, bytes]]:
    """A service's answer headers as they came, less hop-by-hop ones and those the gateway sets,
    plus `extra` (the rate limit's)."""
    kept = [(k, v) for k, v in raw if k.lower() not in _DROP_RESPONSE]
    kept += extra
    return kept
