"""requirements.lock (the images install exactly it) agrees with pyproject.toml's runtime pins, so a
dependency added or moved without `make lock` cannot land."""

from __future__ import annotations

import re
import tomllib

from tests.helpers import ROOT

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = _PIN.match(line.strip())
        if match:
            found[normalized(match[1])] = match[2]
    return found


def test_every_runtime_pin_is_in_the_lock_at_the_same_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = pins(declared)
    assert len(wanted) == len(declared), "every runtime dependency in pyproject.toml is pinned with =="
    locked = pins((ROOT / "requirements.lock").read_text().splitlines())
    stale = {
        name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version
    }
    assert not stale, f"requirements.lock is stale (pyproject pin, lock pin): {stale}; run `make lock`"


def test_every_locked_package_carries_its_hashes() -> None:
    """The images install with --require-hashes: a pin without hashes would fail their build."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pinned = [(n, line) for n, line in enumerate(lines) if _PIN.match(line)]
    assert pinned
    for n, line in pinned:
        assert line.endswith("\\") and lines[n + 1].strip().startswith("--hash=sha256:"), line
