"""The sales service: orders and their payment, placed by a saga with the inventory service."""
