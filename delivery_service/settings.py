"""Delivery settings, read from DELIVERY_* environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DeliverySettings(ServiceSettings):
    """Where deliveries live, where sales answers, how far out an unrequested date is set, and how
    long idempotency keys and pending moves are kept."""

    model_config = SettingsConfigDict(env_prefix="DELIVERY_")

    port: int = 8003
    data_dir: Path = Path("data/delivery")
    sales_url: str = "http://127.0.0.1:8002"
    # Business days (Monday to Friday) from the order's date to the estimated delivery date.
    business_days: int = Field(default=5, ge=0, le=365)
    idempotency_ttl_hours: float = Field(default=24.0, ge=24.0)
    idempotency_max_keys: int = Field(default=1000, ge=1)  # Idempotency-Keys one caller may hold at once
    # A move to Shipped or Delivered claims its delivery while sales is asked; the claim is left
    # to the request that made it for this long (longer than a call to sales can take). After that
    # a retry (the periodic one, or a contrary request) asks sales again. The claim never lapses:
    # until sales has answered, a contrary move is refused (409), however long that takes.
    move_claim_seconds: float = Field(default=30, ge=0, le=3600)
    # Moves whose call to sales failed are retried this often.
    move_retry_interval_seconds: float = 2.0
    # How often sales is asked which orders of Pending deliveries were cancelled (those are
    # cancelled with their orders).
    cancelled_orders_poll_seconds: float = Field(default=5.0, gt=0)
