"""`python -m gateway`: serve the gateway, configured by GATEWAY_* variables."""

from gateway.settings import GatewaySettings
from shared.serve import serve

if __name__ == "__main__":
    serve("gateway", "gateway.app:create_app", GatewaySettings())
