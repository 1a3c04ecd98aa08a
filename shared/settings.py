"""The settings every process shares; each service subclasses it with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings


class ServiceSettings(BaseSettings):
    """Where to listen, how to log, where the store lives and how long outbound calls may take."""

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    store: Literal["json", "memory", "redis"] = "json"
    data_dir: Path = Path("data")
    # For store=redis: one database, and a key prefix of the service's own (default: its name).
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str | None = None
    # write(2) alone survives kill -9; fsync also survives power loss, at a large cost per write.
    fsync: bool = False
    connect_timeout: float = 1.0
    request_timeout: float = 5.0
    # Per upstream (shared/breaker.py): after `breaker_failures` transport failures or timeouts in a
    # row, calls to that instance fail fast with 503 for `breaker_reset_seconds`, then one probe
    # decides. Beyond `max_concurrent_calls` in flight to one service a call is 503 at once: as many
    # as one instance's connection pool holds (shared/http.py), so a burst a healthy service serves
    # (200 buyers at once) is never refused, and what the pool would queue until a timeout fails fast.
    breaker_failures: int = Field(5, ge=1)
    breaker_reset_seconds: float = Field(5.0, gt=0)
    max_concurrent_calls: int = Field(200, ge=1)
    # Shedding (shared/admission.py): requests in flight per route class (reads: GET/HEAD/OPTIONS;
    # writes: the rest), how many more may wait in line per class and for how long, then 503 with
    # Retry-After. Sized for `make run` on one machine: 200 buyers at once are never refused.
    max_in_flight_reads: int = Field(256, ge=1)
    max_in_flight_writes: int = Field(200, ge=1)
    max_queued: int = Field(100, ge=0)
    max_queue_wait_seconds: float = Field(2.0, gt=0)
    # A line not empty for `standing_queue_after_seconds` is overload, not a burst: a request
    # joining it waits at most `standing_queue_wait_seconds` (shared/admission.py).
    standing_queue_wait_seconds: float = Field(0.005, gt=0)
    standing_queue_after_seconds: float = Field(0.5, gt=0)
    overload_retry_after_seconds: int = Field(1, ge=1)
    # One secret shared by the gateway and every service (INTERNAL_SECRET): calls between them carry
    # an HMAC with it, and a service refuses any other. Unset, a service trusts its network (dev).
    internal_secret: str | None = Field(None, validation_alias=AliasChoices("INTERNAL_SECRET"))
