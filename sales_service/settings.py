"""Sales settings, read from SALES_* environment variables."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SalesSettings(ServiceSettings):
    """Where orders live and where the inventory service answers."""

    model_config = SettingsConfigDict(env_prefix="SALES_")

    port: int = 8002
    data_dir: Path = Path("data/sales")
    inventory_url: str = "http://127.0.0.1:8001"
    # A saga takes at most a few request timeouts; one still Pending after the grace was cut off.
    recovery_grace_seconds: float = 30.0
    recovery_interval_seconds: float = 5.0
    idempotency_ttl_hours: float = 24.0
