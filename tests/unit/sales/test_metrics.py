"""Sales' domain metrics: payment outcomes counted in the service layer."""

from __future__ import annotations

from decimal import Decimal

from sales_service import services as sales_services
from sales_service.payments import SimulatedPayments, TimedPayments
from tests.helpers import sample


async def test_payment_outcomes_are_counted() -> None:
    payments = TimedPayments(SimulatedPayments(), timeout=1.0)
    approved = sample("payments_total", operation="charge", outcome="approved")
    declined = sample("payments_total", operation="charge", outcome="declined")
    await sales_services.take_payment(payments, "o1", Decimal("1"), "credit_card", "tok_visa")
    await sales_services.take_payment(payments, "o2", Decimal("1"), "credit_card", "tok_declined")
    assert sample("payments_total", operation="charge", outcome="approved") == approved + 1
    assert sample("payments_total", operation="charge", outcome="declined") == declined + 1
