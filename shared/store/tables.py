"""Named in-memory tables of JSON documents: the in-memory store, and with a journal the JSON store.

A write is a batch of changes `(table, key, document or None to delete)`. It is journaled before
it is applied, so a failed write (disk full) changes nothing. Writes happen without an `await` in
between reading and writing, so within one event loop every store method is atomic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.paging import Page, take
from shared.store.journal import Journal
from shared.store.ordering import IndexKey, Ordering, SortKey

log = logging.getLogger("shared.store.tables")

Change = tuple[str, str, Any]
# Brings what an older version stored up to date, writing its changes; run once, as the tables load.
Upgrade = Callable[["Tables"], None]

_COMPACT_CHUNK = 500  # records per line in a compacted journal
_COMPACT_SLACK = 10_000  # changes allowed beyond twice the live records before compaction


class Tables:
    """Documents by table and key; durable when opened on a directory."""

    def __init__(self, journal: Journal | None = None) -> None:
        """Touches no file: a journal is locked and replayed by `load`."""
        self._tables: dict[str, dict[str, Any]] = {}
        self._orderings: dict[str, Ordering] = {}
        self._journal = journal
        self._journaled = 0  # changes in the journal file, live or dead
        self._loaded = False

    @classmethod
    def open(cls, directory: Path, *, fsync: bool = False) -> Tables:
        """Replay the journal in `directory` (created if missing) and keep appending to it."""
        tables = cls(Journal(directory, fsync=fsync))
        tables.load()
        return tables

    def load(self, upgrade: Upgrade | None = None) -> None:
        """Lock and replay the journal, let `upgrade` bring an older layout up to date, then build
        the orderings registered so far from the result. Once: a second call does nothing."""
        if self._loaded:
            return
        # Built once from the final state: kept up to date batch by batch, a replay would insert
        # into sorted lists one record at a time, and an old record may lack what the order needs.
        orderings, self._orderings = self._orderings, {}
        if self._journal is not None:
            for batch in self._journal.open():
                self._apply(batch)
                self._journaled += len(batch)
        if upgrade is not None:
            upgrade(self)
        for name, ordering in orderings.items():
            self.order(name, ordering.sort_key, ordering.index_keys)
        self._loaded = True

    @property
    def durable(self) -> bool:
        """Journaled to a file (the JSON store), not only in memory."""
        return self._journal is not None

    def order(self, name: str, sort_key: SortKey, indexes: dict[str, IndexKey] | None = None) -> None:
        """Keep `name` ordered by `sort_key` (and indexed) for `scan`; built from what is stored now."""
        ordering = Ordering(sort_key, dict(indexes or {}))
        for key, doc in self._tables.get(name, {}).items():
            ordering.add(key, doc)
        self._orderings[name] = ordering

    def scan(
        self, name: str, *, after: int | None = None, index: str | None = None, value: str | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(sort key, document) in order after the cursor `after`, optionally of one index value."""
        ordering = self._orderings[name]
        table = self._tables.get(name, {})
        for sort in ordering.after(after, index, value):
            yield sort, table[ordering.record_of[sort]]

    def count(self, name: str, *, index: str | None = None, value: str | None = None) -> int:
        return self._orderings[name].count(index, value)

    def page(
        self,
        name: str,
        *,
        after: int | None,
        limit: int,
        index: str | None = None,
        value: str | None = None,
        keep: Callable[[Any], bool] | None = None,
    ) -> Page[Any]:
        """One page of documents in order; without `keep` it costs O(log n + limit)."""
        items, next_after = take(self.scan(name, after=after, index=index, value=value), limit, keep)
        if keep is None:
            total = self.count(name, index=index, value=value)
        else:  # a filter no index answers: counting means looking at every candidate
            total = sum(1 for _, doc in self.scan(name, index=index, value=value) if keep(doc))
        return Page(items, total, next_after)

    def table(self, name: str) -> Mapping[str, Any]:
        return self._tables.setdefault(name, {})

    def get(self, name: str, key: str) -> Any:
        return self._tables.get(name, {}).get(key)

    def write(self, changes: list[Change]) -> None:
        if self._journal is not None:
            self._journal.append([list(change) for change in changes])
            self._journaled += len(changes)
        self._apply(changes)
        if self._journal is not None and self._journaled > 2 * self.live_records() + _COMPACT_SLACK:
            try:
                self.compact()
            except OSError:
                # The write itself is durable; compaction is tried again after the next write.
                log.exception("journal compaction failed")

    def _apply(self, changes: list[Any]) -> None:
        for name, key, doc in changes:
            table = self._tables.setdefault(name, {})
            old = table.pop(key, None) if doc is None else table.get(key)
            if doc is not None:
                table[key] = doc
            ordering = self._orderings.get(name)
            if ordering is None or (old is not None and doc is not None and ordering.unchanged(old, doc)):
                continue
            if old is not None:
                ordering.remove(old)
            if doc is not None:
                ordering.add(key, doc)

    def live_records(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def compact(self) -> None:
        """Rewrite the journal as the live state; amortised O(1) per write by the trigger above."""
        if self._journal is None:
            return
        self._journal.rewrite(self._chunks())
        self._journaled = self.live_records()
        log.info("journal compacted", extra={"records": self._journaled})

    def _chunks(self) -> Iterator[list[Any]]:
        chunk: list[Any] = []
        for name, table in self._tables.items():
            for key, doc in table.items():
                chunk.append([name, key, doc])
                if len(chunk) == _COMPACT_CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
