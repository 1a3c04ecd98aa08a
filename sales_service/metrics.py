"""Sales' domain metrics: how orders end, and what the payment provider answers."""

from __future__ import annotations

from prometheus_client import Counter

OUTCOMES = ("confirmed", "failed", "declined", "cancelled", "rejected")

ORDERS = Counter(
    "orders_total",
    "Orders by outcome: confirmed; declined (payment refused); failed (payment unavailable, or the "
    "hold lost: refunded); cancelled; rejected (never placed: out of stock or inventory unavailable).",
    ["outcome"],
)
PAYMENTS = Counter(
    "payments_total",
    "Calls to the payment provider by operation (charge, refund) and outcome (approved, declined, "
    "refunded, nothing (no charge to refund), unavailable, timeout).",
    ["operation", "outcome"],
)
_orders = {outcome: ORDERS.labels(outcome) for outcome in OUTCOMES}  # every series from the start


def order(outcome: str) -> None:
    _orders[outcome].inc()


def payment(operation: str, outcome: str) -> None:
    PAYMENTS.labels(operation, outcome).inc()
