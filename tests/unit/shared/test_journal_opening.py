"""Opening the journal's directory: one opener at a time, none left locked by a refusal, no file
touched before the store is opened, and orderings and the upgrade applied to what it loads."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.settings import ServiceSettings
from shared.store import Journal, StoreLocked, Tables
from shared.store.docs import TablesDocs, make_docs
from tests.unit.shared.journals import (
    FIRST,
    SECOND,
    THIRD,
    files_in,
    opened,
    state_after_reopen,
    write_all,
)

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
