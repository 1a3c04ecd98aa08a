"""Gateway settings, read from GATEWAY_* environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where each service answers, and the limits on what a client may send."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    port: int = 8000
    inventory_url: str = "http://127.0.0.1:8001"
    sales_url: str = "http://127.0.0.1:8002"
    delivery_url: str = "http://127.0.0.1:8003"
    max_body_bytes: int = 1_048_576
    # Until deployments configure their own tokens, `my_secure_token` is an admin.
    dev_token: str | None = "my_secure_token"
