"""The JSON store's journal files as its tests write, damage and read them back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.store import Change, Tables
from shared.store.journal import encode

FIRST: list[Change] = [("books", "123", {"title": "Gatsby", "stock": 50}), ("meta", "seeded", True)]
SECOND: list[Change] = [("books", "456", {"title": "1984", "stock": 30})]
THIRD: list[Change] = [("books", "789", {"title": "Mockingbird", "stock": 25})]


def journal_file(directory: Path) -> Path:
    return directory / "journal.jsonl"


def line_count(directory: Path) -> int:
    return len(journal_file(directory).read_bytes().splitlines())


@contextlib.contextmanager
def opened(directory: Path) -> Iterator[Tables]:
    tables = Tables.open(directory)
    try:
        yield tables
    finally:
        tables.close()


def write_all(directory: Path, *batches: list[Change]) -> None:
    with opened(directory) as tables:
        for batch in batches:
            tables.write(batch)


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def snapshot(tables: Tables, *names: str) -> dict[str, list[tuple[str, Any]]]:
    """Each table's items in order, so that comparing snapshots also compares key order."""
    return {name: list(tables.table(name).items()) for name in names}


def state_after_reopen(directory: Path, *names: str) -> dict[str, list[tuple[str, Any]]]:
    with opened(directory) as tables:
        return snapshot(tables, *names)


def with_bad_crc(line: bytes) -> bytes:
    crc = int(line[:8], 16)
    return b"%08x" % (crc ^ 1) + line[8:]


def record(batch: list[Change]) -> bytes:
    return encode([list(change) for change in batch])
