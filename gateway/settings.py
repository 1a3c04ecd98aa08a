"""Gateway settings, read from GATEWAY_* environment variables (and TOKENS_FILE)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where each service answers, who may call, and the limits on what a client may send."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    port: int = 8000
    inventory_url: str = "http://127.0.0.1:8001"
    sales_url: str = "http://127.0.0.1:8002"
    delivery_url: str = "http://127.0.0.1:8003"
    max_body_bytes: int = 1_048_576
    # Calls in flight per service, and connections in each instance's pool (shared/http.py).
    max_concurrent_calls: int = Field(256, ge=1)
    # Writes (orders, deliveries, stock) in flight at once, where the public enters: past the peak
    # the rest wait in a line of 256 (a burst: up to 5 s; a standing queue: 5 ms) or get 503 at
    # once, so admitted orders stay fast (shared/admission.py; bench/notes.md has the figures).
    max_in_flight_writes: int = Field(32, ge=1)
    max_queued: int = Field(256, ge=0)
    max_queue_wait_seconds: float = Field(5.0, gt=0)
    # Who may call: a tokens file and/or JWTs. With neither, `dev_token` is an admin (development).
    tokens_file: Path | None = Field(
        None, validation_alias=AliasChoices("TOKENS_FILE", "GATEWAY_TOKENS_FILE")
    )
    dev_token: str | None = "my_secure_token"
    jwt_secret: str | None = None  # HS256
    jwt_public_key: str | None = None  # RS256: the PEM text, or the path of a PEM file
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_roles_claim: str = "roles"
    # Requests per second (sustained) and burst per principal; 0 turns the limit off.
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    # Failed authentications per second and burst per client address, to slow token guessing.
    auth_failures_per_second: float = 0.5
    auth_failures_burst: int = 10
    # The brake counts an IPv6 client by its network of this prefix length (one subscriber's /64).
    auth_failures_ipv6_prefix: int = Field(64, ge=1, le=128)
    # Failed authentications per second (and burst) over every client together; 0 turns it off.
    auth_failures_global_per_second: float = Field(20.0, ge=0)
    auth_failures_global_burst: int = Field(100, ge=1)
    # Share the buckets among gateway instances through Redis (else each instance counts alone).
    rate_limit_redis_url: str | None = None
    # Addresses or networks (CIDR) of proxies (nginx) whose X-Forwarded-For names the real client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Seconds /readyz and a failed /openapi.json (public through nginx) answer what they found last,
    # so a crowd asking them costs each service one call per period; 0 asks on every call.
    public_cache_seconds: float = Field(1.0, ge=0)
    # Browsers from these origins may call the API (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)
