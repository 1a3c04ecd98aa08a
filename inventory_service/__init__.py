"""The inventory service: the catalog, its stock, and stock held for orders."""
