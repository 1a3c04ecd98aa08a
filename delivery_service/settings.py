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
    # How long a move to Shipped or Delivered holds its delivery when sales' answer is lost (503,
    # 504): longer than a call to sales can take, since sales may have acted on it meanwhile.
    move_claim_seconds: int = Field(default=30, ge=0, le=3600)
    # A move whose call to sales failed is retried this often, once older than the grace.
    move_retry_interval_seconds: float = 2.0
    move_retry_grace_seconds: float = 15.0
