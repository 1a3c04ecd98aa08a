"""`python -m inventory_service`: serve the inventory service, configured by INVENTORY_* variables."""

from inventory_service.settings import InventorySettings
from shared.serve import serve

if __name__ == "__main__":
    serve("inventory", "inventory_service.app:create_app", InventorySettings())
