"""A table's stable order and its secondary indexes, kept in memory beside the documents.

Each document has a persistent integer sort key (an entity's number, a catalog position),
so a cursor is just the last sort key seen: it stays valid while records are added and across
restarts. Finding a page costs a binary search plus the page itself, whatever the table's size.
Indexes map a field's value to the sorted sort keys of the documents that have it.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

SortKey = Callable[[Any], int]
IndexKey = Callable[[Any], str | None]


def _remove(keys: list[int], key: int) -> None:
    i = bisect_right(keys, key) - 1
    if i >= 0 and keys[i] == key:
        del keys[i]


@dataclass
class Ordering:
    """Sorted sort keys of one table, and for each index, value -> sorted sort keys."""

    sort_key: SortKey
    index_keys: dict[str, IndexKey] = field(default_factory=dict)
    keys: list[int] = field(default_factory=list)
    record_of: dict[int, str] = field(default_factory=dict)
    indexes: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.indexes = {name: {} for name in self.index_keys}

    def add(self, record: str, doc: Any) -> None:
        sort = self.sort_key(doc)
        if sort not in self.record_of:
            insort(self.keys, sort)
        self.record_of[sort] = record
        for name, index_key in self.index_keys.items():
            value = index_key(doc)
            if value is not None:
                insort(self.indexes[name].setdefault(value, []), sort)

    def remove(self, doc: Any) -> None:
        sort = self.sort_key(doc)
        _remove(self.keys, sort)
        self.record_of.pop(sort, None)
        for name, index_key in self.index_keys.items():
            value = index_key(doc)
            if value is not None and value in self.indexes[name]:
                _remove(self.indexes[name][value], sort)
                if not self.indexes[name][value]:
                    del self.indexes[name][value]

    def unchanged(self, old: Any, new: Any) -> bool:
        """Whether replacing `old` by `new` leaves the order and every index as they are."""
        return self.sort_key(old) == self.sort_key(new) and all(
            key(old) == key(new) for key in self.index_keys.values()
        )

    def after(self, cursor: int | None, index: str | None = None, value: str | None = None) -> Iterator[int]:
        """Sort keys past `cursor` in order, over the whole table or one index value."""
        keys = self.keys if index is None else self.indexes[index].get(value or "", [])
        i = 0 if cursor is None else bisect_right(keys, cursor)
        while i < len(keys):
            yield keys[i]
            i += 1

    def count(self, index: str | None = None, value: str | None = None) -> int:
        return len(self.keys if index is None else self.indexes[index].get(value or "", []))
