"""`python -m delivery_service`: serve the delivery service, configured by DELIVERY_* variables."""

from delivery_service.settings import DeliverySettings
from shared.serve import serve

if __name__ == "__main__":
    serve("delivery", "delivery_service.app:create_app", DeliverySettings())
