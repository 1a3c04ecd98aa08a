"""Bearer-token authentication: a token resolves to a principal (subject and roles), or to nothing.

Two kinds of token, either or both configured: opaque tokens from a tokens file, held only as
SHA-256 digests and compared in constant time; and JWTs signed with a configured key (HS256
secret or RS256 public key), with `exp`, `nbf` and `aud` checked. Without either, development
mode accepts `my_secure_token` as an admin, and says so at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Annotated, Any

import jwt
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter

from shared.principal import ROLE_RANK, Principal

log = logging.getLogger("gateway.auth")

Role = Annotated[str, StringConstraints(pattern="^(" + "|".join(ROLE_RANK) + ")$")]


class TokenEntry(BaseModel):
    """One line of the tokens file."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    roles: Annotated[list[Role], Field(min_length=1)]
    token_sha256: Annotated[str, StringConstraints(pattern="^[0-9a-fA-F]{64}$")]


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_tokens(path: Path) -> list[tuple[bytes, Principal]]:
    """The tokens file: a JSON list of {"subject", "roles", "token_sha256"}; ValueError if it is not."""
    try:
        entries = TypeAdapter(list[TokenEntry]).validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"tokens file {path} is not usable: {exc}") from exc
    return [(bytes.fromhex(e.token_sha256), Principal(e.subject, frozenset(e.roles))) for e in entries]


class JwtVerifier:
    """Checks a JWT's signature, expiry, not-before and audience; roles come from one claim."""

    def __init__(
        self, key: str, algorithm: str, *, audience: str | None, issuer: str | None, roles_claim: str
    ) -> None:
        self.key = key
        self.algorithm = algorithm
        self.audience = audience
        self.issuer = issuer
        self.roles_claim = roles_claim

    def verify(self, token: str) -> Principal | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
                leeway=5,
            )
        except jwt.PyJWTError:
            return None
        roles = claims.get(self.roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        known = frozenset(r for r in roles if isinstance(r, str) and r in ROLE_RANK)
        subject = claims["sub"]
        return Principal(subject, known) if isinstance(subject, str) and subject else None


class TokenAuthenticator:
    """Resolves an Authorization header; never logs the token."""

    def __init__(
        self, tokens: list[tuple[bytes, Principal]], jwt_verifier: JwtVerifier | None = None
    ) -> None:
        self._tokens = tokens
        self._jwt = jwt_verifier

    @classmethod
    def development(cls, token: str) -> TokenAuthenticator:
        return cls([(digest(token), Principal("dev", frozenset({"admin"})))])

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 4096:
            return None
        if self._jwt is not None and token.count(".") == 2:
            return self._jwt.verify(token)
        candidate = digest(token)
        found: Principal | None = None
        for known, principal in self._tokens:  # no early exit: the time taken says nothing
            if hmac.compare_digest(known, candidate):
                found = principal
        return found


def authenticator_from(
    *,
    tokens_file: Path | None,
    dev_token: str | None,
    jwt_secret: str | None,
    jwt_public_key: str | None,
    jwt_audience: str | None,
    jwt_issuer: str | None,
    jwt_roles_claim: str,
) -> TokenAuthenticator:
    """The authenticator the settings describe; development mode only when nothing is configured."""
    verifier = None
    if jwt_secret or jwt_public_key:
        if jwt_public_key and not jwt_public_key.lstrip().startswith("-----BEGIN"):
            jwt_public_key = Path(jwt_public_key).read_text()
        key, algorithm = (jwt_secret, "HS256") if jwt_secret else (jwt_public_key or "", "RS256")
        verifier = JwtVerifier(
            key, algorithm, audience=jwt_audience, issuer=jwt_issuer, roles_claim=jwt_roles_claim
        )
    tokens = load_tokens(tokens_file) if tokens_file else []
    if tokens_file is None and verifier is None:
        if dev_token:
            log.warning("development mode: no TOKENS_FILE or JWT key, so the dev token is an admin")
            return TokenAuthenticator.development(dev_token)
        log.warning("no tokens configured: every request will be refused")
    return TokenAuthenticator(tokens, verifier)
