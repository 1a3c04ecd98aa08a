"""The fault suite runs on the integration tests' real systems: the same fixtures."""

from tests.integration.conftest import client, pytest_runtest_makereport, system

__all__ = ["client", "pytest_runtest_makereport", "system"]
