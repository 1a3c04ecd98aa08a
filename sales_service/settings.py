"""Sales settings, read from SALES_* environment variables."""

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SalesSettings(ServiceSettings):
    """Where orders live, where the inventory service answers, and how the payment provider behaves."""

    model_config = SettingsConfigDict(env_prefix="SALES_")

    port: int = 8002
    data_dir: Path = Path("data/sales")
    inventory_url: str = "http://127.0.0.1:8001"
    # A saga takes at most a few request timeouts; one still Pending after the grace was cut off.
    recovery_grace_seconds: float = 30.0
    recovery_interval_seconds: float = 5.0
    idempotency_ttl_hours: float = 24.0
    # Reconcile orders with inventory's holds once after start (reconcile.py), in the background.
    reconcile_on_start: bool = True
    reconcile_recent_orders: int = Field(1000, ge=1)  # how many of the last order numbers, on start
    idempotency_max_keys: int = Field(1000, ge=1)  # Idempotency-Keys one caller may hold at once
    # Every call to the payment provider; one that takes longer counts as the provider being down.
    payment_timeout_seconds: float = Field(5.0, gt=0)
    # The simulated provider fails this fraction of charges, and hangs this fraction (fault tests).
    payment_failure_rate: float = Field(0.0, ge=0, le=1)
    payment_timeout_rate: float = Field(0.0, ge=0, le=1)
    payment_seed: int | None = None  # the simulated provider's dice; None: different every start

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        if self.payment_failure_rate + self.payment_timeout_rate > 1:
            raise ValueError("SALES_PAYMENT_FAILURE_RATE + SALES_PAYMENT_TIMEOUT_RATE must be at most 1")
        return self
