"""Fixtures the unit tests share."""

from tests.unit.sales_shop import shop

__all__ = ["shop"]
