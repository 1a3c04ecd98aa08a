"""The inventory service: the catalog, stock, and stock reservations (holds) for orders."""
