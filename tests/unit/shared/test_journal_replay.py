"""Replaying the journal behind the JSON store: batches, deletes and key order come back after a
reopen; a torn last record is cut off, a damaged one followed by good ones refuses to open."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.store import StoreCorrupt, Tables
from shared.store.journal import decode
from tests.unit.shared.journals import (
    FIRST,
    SECOND,
    THIRD,
    journal_file,
    opened,
    record,
    snapshot,
    state_after_reopen,
    with_bad_crc,
    write_all,
)

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
def test_key_order_survives_a_reopen_and_a_compaction(
    directory: Path, survive: Callable[[Path], None]
) -> None:
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
