"""Code every bookstore process uses; it knows no domain (no books, orders or deliveries)."""
