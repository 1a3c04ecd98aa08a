"""The fault suite runs on the end-to-end tests' real systems: the same fixtures."""

from tests.e2e.conftest import client, pytest_runtest_makereport, system

__all__ = ["client", "pytest_runtest_makereport", "system"]
