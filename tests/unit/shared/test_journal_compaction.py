"""Compacting the journal (by itself, keeping the state, sized by the live records) and writes that
fail (a full disk, a short write) leaving nothing that spoils later ones."""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store import Journal, Tables
from shared.store.journal import Batch
from tests.unit.shared.journals import (
    FIRST,
    SECOND,
    THIRD,
    journal_file,
    line_count,
    opened,
    record,
    snapshot,
    state_after_reopen,
    write_all,
)


def test_many_writes_to_one_key_compact_the_journal_by_themselves(directory: Path) -> None:
    writes = 10_100
    with opened(directory) as tables:
        for i in range(writes):
            tables.write([("counter", "only", {"n": i})])
        size_after_compaction = journal_file(directory).stat().st_size

    assert line_count(directory) < writes // 10
    assert size_after_compaction < writes * len(record([("counter", "only", {"n": 0})])) // 10
    assert state_after_reopen(directory, "counter") == {"counter": [("only", {"n": writes - 1})]}


def test_compaction_keeps_the_state_identical_after_reopen(directory: Path) -> None:
    with opened(directory) as tables:
        for i in range(1_200):
            tables.write([("books", f"b{i}", {"stock": i}), ("holds", f"o{i}", True)])
        for i in range(0, 1_200, 3):
            tables.write([("books", f"b{i}", {"stock": -i}), ("holds", f"o{i}", None)])
        before = snapshot(tables, "books", "holds")
        lines_before = line_count(directory)
        tables.compact()
        assert snapshot(tables, "books", "holds") == before

    assert line_count(directory) < lines_before
    assert state_after_reopen(directory, "books", "holds") == before


def test_after_compaction_the_file_depends_on_the_live_records_not_on_the_writes(tmp_path: Path) -> None:
    live = 1_200

    def build(directory: Path, rewrites: int) -> bytes:
        with opened(directory) as tables:
            for round_ in range(rewrites):
                for i in range(live):
                    tables.write([("books", f"b{i}", {"stock": i, "round": round_ - rewrites + 1})])
            tables.compact()
        return journal_file(directory).read_bytes()

    written_once = build(tmp_path / "once", rewrites=1)
    written_often = build(tmp_path / "often", rewrites=8)

    assert written_often == written_once
    assert len(written_once.splitlines()) < live // 10


def test_a_single_live_record_compacts_to_a_single_line(directory: Path) -> None:
    with opened(directory) as tables:
        for i in range(2_000):
            tables.write([("counter", "only", {"n": i})])
        tables.compact()
    assert line_count(directory) == 1


def test_a_leftover_compaction_file_is_ignored_and_removed_on_open(directory: Path) -> None:
    write_all(directory, FIRST, SECOND)
    leftover = directory / "journal.tmp"
    leftover.write_bytes(record([("books", "ghost", {"title": "half-compacted"})]) + b"torn")

    with opened(directory) as tables:
        assert list(tables.table("books")) == ["123", "456"]
        assert not leftover.exists()


# --- failing writes -----------------------------------------------------------------------------


class FlakyJournal(Journal):
    """A journal whose appends fail on demand, as they do on a full disk."""

    failing = False

    def append(self, batch: Batch) -> None:
        if self.failing:
            raise OSError(28, "No space left on device")
        super().append(batch)


def test_a_failing_journal_append_leaves_the_state_unchanged(directory: Path) -> None:
    journal = FlakyJournal(directory)
    assert list(journal.open()) == []
    tables = Tables(journal=journal)
    tables.write(FIRST + SECOND)
    before = snapshot(tables, "books", "meta")

    journal.failing = True
    with pytest.raises(OSError):
        tables.write([("books", "123", {"title": "changed"}), ("books", "456", None), *THIRD])
    assert snapshot(tables, "books", "meta") == before

    journal.failing = False
    tables.write(THIRD)
    tables.close()
    assert state_after_reopen(directory, "books") == {
        "books": [*before["books"], ("789", {"title": "Mockingbird", "stock": 25})]
    }


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make write(2) past `limit` bytes come back short, as it does when the disk fills up."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_short_write_leaves_nothing_that_spoils_later_writes(directory: Path) -> None:
    with opened(directory) as tables:
        # A large first record keeps the limit far above any other file this process writes.
        tables.write([("blob", "big", "x" * 1_000_000)])
        size = journal_file(directory).stat().st_size
        with file_size_limit(size + 10), pytest.raises(OSError):
            tables.write(FIRST)
        assert tables.get("meta", "seeded") is None

        tables.write(SECOND)  # space is back
        tables.write(THIRD)

    with opened(directory) as tables:
        assert list(tables.table("books")) == ["456", "789"]
