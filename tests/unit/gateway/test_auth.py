"""Who the gateway lets in: the development token, a tokens file of SHA-256 digests, JWTs signed HS256
or RS256 with exp, nbf and aud checked; and every API request without a valid token is 401 before
anything else happens to it."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import TokenAuthenticator, authenticator_from
from gateway.settings import GatewaySettings
from shared.principal import Principal
from tests.helpers import AUTH, TOKEN, assert_envelope
from tests.unit.gateway.in_process import running_gateway

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


NOW = time.time()


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def auth(**settings: object):  # type: ignore[no-untyped-def]
    defaults: dict[str, object] = {
        "tokens_file": None,
        "dev_token": "my_secure_token",
        "jwt_secret": None,
        "jwt_public_key": None,
        "jwt_audience": None,
        "jwt_issuer": None,
        "jwt_roles_claim": "roles",
    }
    return authenticator_from(**{**defaults, **settings})  # type: ignore[arg-type]


# --- the development token -------------------------------------------------------------------


def test_the_development_token_is_an_admin_called_dev() -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(f"Bearer {TOKEN}") == Principal("dev", frozenset({"admin"}))


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(f"{scheme} {TOKEN}") == Principal("dev", frozenset({"admin"}))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Basic {TOKEN}",
        "Basic ZGV2Om15X3NlY3VyZV90b2tlbg==",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        TOKEN,
        f"Token {TOKEN}",
        "Bearer " + "a" * 5000,
        f"Bearer {TOKEN}" + " " + "a" * 5000,
    ],
    ids=lambda value: repr(value)[:30],
)
def test_anything_but_a_known_bearer_token_is_nobody(authorization: str | None) -> None:
    auth = TokenAuthenticator.development(TOKEN)

    assert auth.authenticate(authorization) is None


def test_an_authenticator_without_tokens_knows_nobody() -> None:
    assert TokenAuthenticator({}).authenticate(f"Bearer {TOKEN}") is None


# --- tokens files and JWTs ---------------------------------------------------------------------


def test_rs256_tokens_are_checked_against_the_public_key(rsa_keys: tuple[bytes, str], tmp_path: Path) -> None:
    private, public = rsa_keys
    key_file = tmp_path / "public.pem"
    key_file.write_text(public)
    claims = {"sub": "alice", "roles": ["customer"], "aud": "shop", "exp": NOW + 6 * 3600}
    good = jwt.encode(claims, private, algorithm="RS256")
    forged = jwt.encode(claims, "not-the-key" * 4, algorithm="HS256")  # algorithm confusion must fail

    for key in (public, str(key_file)):
        authenticator = auth(jwt_public_key=key, jwt_audience="shop")
        assert authenticator.authenticate(f"Bearer {good}") == Principal("alice", frozenset({"customer"}))
        assert authenticator.authenticate(f"Bearer {forged}") is None
        assert authenticator.authenticate("Bearer my_secure_token") is None  # no dev mode once configured


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"sub": "a", "roles": ["staff"], "exp": NOW + 6 * 3600}, True),
        ({"sub": "a", "roles": "staff customer", "exp": NOW + 6 * 3600}, True),
        ({"sub": "a", "roles": ["staff"], "exp": NOW - 60}, False),
        ({"sub": "a", "roles": ["staff"], "exp": NOW + 6 * 3600, "nbf": NOW + 3 * 3600}, False),
        ({"sub": "a", "roles": ["staff"]}, False),  # no exp
        ({"roles": ["staff"], "exp": NOW + 6 * 3600}, False),  # no subject
        ({"sub": "a", "roles": ["staff"], "exp": NOW + 6 * 3600, "aud": "elsewhere"}, False),
    ],
)
def test_a_jwt_is_accepted_only_with_a_subject_a_live_exp_and_nbf_and_the_audience(
    claims: dict[str, object], accepted: bool
) -> None:
    token = jwt.encode({"aud": "shop", **claims}, "s" * 40, algorithm="HS256")

    principal = auth(jwt_secret="s" * 40, jwt_audience="shop").authenticate(f"Bearer {token}")

    assert (principal is not None) == accepted
    if principal is not None:
        assert "staff" in principal.roles


def test_unknown_roles_in_a_jwt_are_dropped() -> None:
    token = jwt.encode(
        {"sub": "a", "roles": ["root", "customer"], "exp": NOW + 6 * 3600}, "s" * 40, algorithm="HS256"
    )

    principal = auth(jwt_secret="s" * 40).authenticate(f"Bearer {token}")

    assert principal == Principal("a", frozenset({"customer"}))


def test_a_tokens_file_replaces_the_dev_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    digest = hashlib.sha256(b"tok-1").hexdigest()
    path.write_text(json.dumps([{"subject": "s1", "roles": ["staff"], "token_sha256": digest}]))

    authenticator = auth(tokens_file=path)

    assert authenticator.authenticate("Bearer tok-1") == Principal("s1", frozenset({"staff"}))
    assert authenticator.authenticate("Bearer my_secure_token") is None


@pytest.mark.parametrize(
    "content",
    [
        '{"not": "a list"}',
        '[{"subject": "s", "roles": ["wizard"], "token_sha256": "' + "0" * 64 + '"}]',
        '[{"subject": "s", "roles": ["staff"], "token_sha256": "plaintext"}]',
        "not json",
    ],
)
def test_a_broken_tokens_file_stops_the_gateway_with_a_clear_message(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)

    with pytest.raises(ValueError, match=r"tokens file .* is not usable"):
        auth(tokens_file=path)


# --- authentication comes first -----------------------------------------------------------------

API_PATHS = [
    "/api",
    "/api/",
    "/api/books",
    "/api/books/123",
    "/api/books/does-not-exist",
    "/api/books/123/stock",
    "/api/orders/order_1/cancel",
    "/api/deliveries",
    "/api/unknown",
    "/api/booksX",
    "/api/books/%2e%2e/orders",
]
NO_VALID_TOKEN = [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"]


@pytest.mark.parametrize("authorization", NO_VALID_TOKEN)
@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", METHODS)
async def test_every_api_request_without_a_valid_token_is_401_before_anything_else(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await client.request(method, path, headers=headers, content=b'{"title": "x"}')

    body = assert_envelope(response, 401)
    assert body == {"error": "Unauthorized", "request_id": response.headers["x-request-id"]}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_body_over_the_limit_without_a_token_is_401_not_413() -> None:
    async with running_gateway(GatewaySettings(max_body_bytes=1000)) as client:
        response = await client.post("/api/books", content=b"x" * 5000)

    assert_envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_development_token_is_refused_when_none_is_configured() -> None:
    async with running_gateway(GatewaySettings(dev_token=None)) as client:
        response = await client.get("/api/books", headers=AUTH)

    assert_envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_configured_dev_token_replaces_the_default_one() -> None:
    async with running_gateway(GatewaySettings(dev_token="another_token")) as client:
        refused = await client.get("/api/books", headers=AUTH)
        accepted = await client.get("/api/books", headers={"Authorization": "Bearer another_token"})

    assert_envelope(refused, 401)
    assert_envelope(accepted, 503)  # past authentication, on to the (unreachable) inventory
