"""Fixtures of the unit tests of shared/."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """Where a journal lives: created by the first open."""
    return tmp_path / "data"
