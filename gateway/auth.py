"""Bearer-token authentication: a token resolves to a principal (subject and roles), or to nothing."""

from __future__ import annotations

import hashlib

from shared.principal import Principal


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Known tokens, held only as SHA-256 digests; a lookup by digest leaks no timing about the token."""

    def __init__(self, principals_by_digest: dict[str, Principal]) -> None:
        self._principals = principals_by_digest

    @classmethod
    def development(cls, token: str) -> TokenAuthenticator:
        return cls({digest(token): Principal("dev", frozenset({"admin"}))})

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 4096:
            return None
        return self._principals.get(digest(token))
