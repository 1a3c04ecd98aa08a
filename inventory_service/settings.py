"""Inventory settings, read from INVENTORY_* environment variables."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    """Where the catalog lives and how long an unclaimed hold keeps its units."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    port: int = 8001
    data_dir: Path = Path("data/inventory")
    hold_ttl_seconds: float = 60.0
    expiry_sweep_seconds: float = 1.0
