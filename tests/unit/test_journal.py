"""The journal and tables behind the JSON store: replay, torn tails, corruption, locking, compaction."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.settings import ServiceSettings
from shared.store import Change, Journal, StoreCorrupt, StoreLocked, Tables
from shared.store.docs import TablesDocs, make_docs
from shared.store.journal import Batch, decode, encode

FIRST: list[Change] = [("books", "123", {"title": "Gatsby", "stock": 50}), ("meta", "seeded", True)]
SECOND: list[Change] = [("books", "456", {"title": "1984", "stock": 30})]
THIRD: list[Change] = [("books", "789", {"title": "Mockingbird", "stock": 25})]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "data"


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


# --- replay -------------------------------------------------------------------------------------


def test_a_written_batch_is_replayed_after_reopen(directory: Path) -> None:
    write_all(directory, FIRST, SECOND)

    with opened(directory) as tables:
        assert tables.get("books", "123") == {"title": "Gatsby", "stock": 50}
        assert tables.get("books", "456") == {"title": "1984", "stock": 30}
        assert tables.get("meta", "seeded") is True


def test_a_delete_is_replayed_after_reopen(directory: Path) -> None:
    write_all(directory, FIRST, SECOND, [("books", "123", None)])

    with opened(directory) as tables:
        assert tables.get("books", "123") is None
        assert dict(tables.table("books")) == {"456": {"title": "1984", "stock": 30}}


def just_reopen(directory: Path) -> None:
    """Nothing to do: the check opens the directory afresh."""


def compact_then_reopen(directory: Path) -> None:
    with opened(directory) as tables:
        tables.compact()


@pytest.mark.parametrize("survive", [just_reopen, compact_then_reopen], ids=["reopen", "compaction"])
def test_key_order_is_kept(directory: Path, survive: Callable[[Path], None]) -> None:
    with opened(directory) as tables:
        for key in ["9", "10", "1", "b", "a"]:
            tables.write([("t", key, {"k": key})])
        tables.write([("t", "10", {"k": "updated"})])  # an update keeps its place
        tables.write([("t", "1", None)])
        tables.write([("t", "1", {"k": "back"})])  # a re-added key goes last
        before = snapshot(tables, "t")
    assert [key for key, _ in before["t"]] == ["9", "10", "b", "a", "1"]

    survive(directory)

    assert state_after_reopen(directory, "t") == before


# --- torn tails and corruption ------------------------------------------------------------------

TORN_TAILS = {
    "garbage without a newline": b"\x00\x07garbage",
    "a record cut in half": record(THIRD)[: len(record(THIRD)) // 2],
    "a record missing only its newline": record(THIRD)[:-1],
    "a whole last record with a wrong crc": with_bad_crc(record(THIRD)),
    "a last line of garbage": b"not a record\n",
}


@pytest.mark.parametrize("tail", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_a_torn_last_record_is_cut_off_and_the_rest_survives(directory: Path, tail: bytes) -> None:
    write_all(directory, FIRST, SECOND)
    good = journal_file(directory).read_bytes()
    with journal_file(directory).open("ab") as f:
        f.write(tail)

    with opened(directory) as tables:
        assert tables.get("books", "123") is not None
        assert tables.get("books", "456") is not None
        assert tables.get("books", "789") is None
        assert journal_file(directory).read_bytes() == good
        tables.write([("books", "999", {"title": "After the tear"})])

    with opened(directory) as tables:
        assert list(tables.table("books")) == ["123", "456", "999"]
    assert all(decode(line) is not None for line in journal_file(directory).read_bytes().splitlines())


def flip_a_byte_in_the_second_record(data: bytes) -> bytes:
    at = data.index(b"\n") + 1 + 20  # inside the second record's JSON
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def insert_a_garbage_line_after_the_first_record(data: bytes) -> bytes:
    at = data.index(b"\n") + 1
    return data[:at] + b"not a record\n" + data[at:]


def put_a_bad_crc_on_the_second_record(data: bytes) -> bytes:
    first, second, rest = data.split(b"\n", 2)
    return b"\n".join([first, with_bad_crc(second), rest])


@pytest.mark.parametrize(
    "damage",
    [
        flip_a_byte_in_the_second_record,
        insert_a_garbage_line_after_the_first_record,
        put_a_bad_crc_on_the_second_record,
    ],
)
def test_a_damaged_record_followed_by_good_ones_refuses_to_open_and_is_left_untouched(
    directory: Path, damage: Callable[[bytes], bytes]
) -> None:
    write_all(directory, FIRST, SECOND, THIRD)
    damaged = damage(journal_file(directory).read_bytes())
    journal_file(directory).write_bytes(damaged)

    with pytest.raises(StoreCorrupt, match=re.escape(str(journal_file(directory)))):
        Tables.open(directory)

    assert journal_file(directory).read_bytes() == damaged


def test_a_directory_that_refused_to_open_is_not_left_locked(directory: Path) -> None:
    write_all(directory, FIRST, SECOND, THIRD)
    good = journal_file(directory).read_bytes()
    journal_file(directory).write_bytes(flip_a_byte_in_the_second_record(good))
    with pytest.raises(StoreCorrupt):
        Tables.open(directory)

    journal_file(directory).write_bytes(good)  # the operator restores a backup

    with opened(directory) as tables:
        assert list(tables.table("books")) == ["123", "456", "789"]


# --- locking ------------------------------------------------------------------------------------


def open_tables(directory: Path) -> object:
    return Tables.open(directory)


def open_journal(directory: Path) -> object:
    return list(Journal(directory).open())


@pytest.mark.parametrize("open_again", [open_tables, open_journal], ids=["Tables.open", "Journal.open"])
def test_an_open_directory_cannot_be_opened_a_second_time(
    directory: Path, open_again: Callable[[Path], object]
) -> None:
    with opened(directory) as first:
        with pytest.raises(StoreLocked, match=re.escape(str(directory))) as refused:
            open_again(directory)
        assert f"pid {os.getpid()}" in str(refused.value)

        first.write(FIRST)  # the first opener is unharmed

    assert state_after_reopen(directory, "books")["books"] == [("123", {"title": "Gatsby", "stock": 50})]


def test_a_closed_directory_can_be_opened_again(directory: Path) -> None:
    tables = Tables.open(directory)
    tables.write(FIRST)
    tables.close()
    tables.close()  # closing twice is harmless

    journal = Journal(directory)
    assert list(journal.open()) == [[list(change) for change in FIRST]]
    journal.close()

    with opened(directory) as again:
        assert again.get("meta", "seeded") is True


# --- compaction ---------------------------------------------------------------------------------


async def test_a_json_store_touches_no_file_until_it_is_opened(directory: Path) -> None:
    docs = make_docs(ServiceSettings(store="json", data_dir=directory), "svc")

    assert files_in(directory) == []
    await docs.open()
    try:
        assert files_in(directory) == ["LOCK", "journal.jsonl"]
        with pytest.raises(StoreLocked):
            Tables.open(directory)
    finally:
        await docs.close()


async def test_orderings_and_the_upgrade_given_before_open_apply_to_what_it_loads(directory: Path) -> None:
    write_all(directory, FIRST, SECOND, THIRD, [("books", "456", None)])
    seen: list[list[str]] = []

    def upgrade(tables: Tables) -> None:  # what an older version wrote has no positions yet
        seen.append(list(tables.table("books")))
        tables.write(
            [("books", key, {**doc, "pos": n}) for n, (key, doc) in enumerate(tables.table("books").items())]
        )

    docs = TablesDocs(Tables(Journal(directory)), upgrade=upgrade)
    docs.order("books", lambda doc: int(doc["pos"]), {"title": lambda doc: str(doc["title"])})
    await docs.open()
    await docs.open()  # a second open loads nothing twice
    try:
        page = await docs.page("books", after=None, limit=10)
        by_title = await docs.page("books", after=None, limit=10, index="title", value="Mockingbird")
    finally:
        await docs.close()

    assert seen == [["123", "789"]]
    assert [doc["title"] for doc in page.items] == ["Gatsby", "Mockingbird"]
    assert [doc["pos"] for doc in by_title.items] == [1]
    assert state_after_reopen(directory, "books")["books"][1] == ("789", {**THIRD[0][2], "pos": 1})


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
