"""The document store every service's store is written against, once, for every backend.

Both backends time every operation (`store_operation_duration_seconds{operation,backend}`).

`atomic(work)` runs `work(tx)`: reads through `tx.get`, writes buffered by `tx.put`/`tx.delete`
and applied together or not at all. On Tables (memory and JSON) it runs under a lock; on Redis
it is optimistic (plain reads, then one compare-and-set script) and re-runs `work` when another
client changed a key it read, so `work` must do nothing but read and decide.

`decide(rule)` makes one decision where the data is, for the hot paths where a busy key would make
optimistic transactions retry against each other: on Redis a Lua script runs it atomically in one
round trip (EVALSHA; loaded on NOSCRIPT), on Tables its Python twin runs as one transaction. The two
are one rule written twice, so the behaviour suites run it on every backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from shared.metrics import timed
from shared.paging import Page
from shared.settings import ServiceSettings
from shared.store.journal import Journal
from shared.store.ordering import IndexKey, SortKey
from shared.store.tables import Change, Tables, Upgrade

T = TypeVar("T")


class Tx(Protocol):
    """One transaction's view: what it read, and the writes it will make."""

    async def get(self, table: str, key: str) -> Any: ...

    def put(self, table: str, key: str, doc: Any) -> None: ...

    def delete(self, table: str, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Rule(Generic[T]):
    """One decision made where the data is (see `Docs.decide`).

    On Redis, `script` (Lua) runs with KEYS = the document key of each of `items`, then the key set
    of each item's table (in the same order), and ARGV = the store's key prefix (to name a document
    the script finds only by reading: `<prefix><table>:<key>`, which a Redis Cluster allows only
    when the prefix is a hash tag such as `{inventory}:`), then `args`; it replies one JSON
    text, which `answer` turns into the result (or a domain error). It may change documents of
    ordered tables only where their sort key and index values stay as they are, unless it keeps
    their sorted sets in step itself: `sets` names them as (table, `order` or
    `idx:<index>:<value>`), and their keys follow the key sets in KEYS. On Tables, `twin` (the
    same rule in Python) runs as one transaction instead, and the tables keep their own order."""

    script: str
    items: Sequence[tuple[str, str]]
    args: Sequence[str | int]
    answer: Callable[[Any], T]
    twin: Callable[[Tx], Awaitable[T]]
    sets: Sequence[tuple[str, str]] = ()


class Docs(Protocol):
    """JSON documents by table and key, with atomic transactions, ordered pages and counters.

    Constructing one touches no file and no socket; `open` loads what is stored."""

    def order(
        self,
        table: str,
        sort_key: SortKey,
        indexes: dict[str, IndexKey] | None = None,
        *,
        stable: bool = False,
    ) -> None:
        """Keep `table` in `sort_key` order (and indexed by `indexes`) for `page`; call before use.

        `stable`: a document's sort key and index values never change once it is written (an
        order's number and customer), so replacing one it did not read needs no read first."""

    async def open(self) -> None:
        """Load what is stored (a JSON journal is locked and replayed here); once, before use."""

    async def get(self, table: str, key: str) -> Any: ...

    async def keys(self, table: str) -> list[str]:
        """Every key of a small table (work in progress that a sweep or recovery walks)."""

    async def atomic(self, work: Callable[[Tx], Awaitable[T]]) -> T: ...

    async def decide(self, rule: Rule[T]) -> T:
        """Run `rule` atomically: its script on Redis (one round trip), its twin elsewhere."""

    async def next_number(self, name: str) -> int:
        """1, 2, 3, ...: never the same twice, also across processes sharing the store."""

    async def last_number(self, name: str) -> int:
        """The last number `next_number` gave (0: none yet)."""

    async def skip_numbers(self, name: str, past: int) -> bool:
        """Make `next_number` answer more than `past` from now on (numbers another store still
        knows, after this one lost its last writes); whether it would have answered less."""

    async def page(
        self,
        table: str,
        *,
        after: int | None,
        limit: int,
        index: str | None = None,
        value: str | None = None,
        keep: Callable[[Any], bool] | None = None,
    ) -> Page[Any]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class _TablesTx:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.changes: list[Change] = []
        self.pending: dict[tuple[str, str], Any] = {}

    async def get(self, table: str, key: str) -> Any:
        if (table, key) in self.pending:
            return self.pending[table, key]
        return self.tables.get(table, key)

    def put(self, table: str, key: str, doc: Any) -> None:
        self.pending[table, key] = doc
        self.changes.append((table, key, doc))

    def delete(self, table: str, key: str) -> None:
        self.pending[table, key] = None
        self.changes.append((table, key, None))


class TablesDocs:
    """`Docs` on in-process Tables (in memory, or journaled to a JSON file); `upgrade` brings what
    an older version left in the journal up to date as it opens, before the orderings are built."""

    def __init__(self, tables: Tables, *, upgrade: Upgrade | None = None) -> None:
        self.tables = tables
        self.backend = "json" if tables.durable else "memory"
        self._upgrade = upgrade
        self._lock = asyncio.Lock()

    def order(
        self,
        table: str,
        sort_key: SortKey,
        indexes: dict[str, IndexKey] | None = None,
        *,
        stable: bool = False,
    ) -> None:
        self.tables.order(table, sort_key, indexes)  # in-process tables always know the old value

    async def open(self) -> None:
        self.tables.load(self._upgrade)

    @timed("get")
    async def get(self, table: str, key: str) -> Any:
        return self.tables.get(table, key)

    @timed("keys")
    async def keys(self, table: str) -> list[str]:
        return list(self.tables.table(table))

    @timed("atomic")
    async def atomic(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        return await self._atomic(work)

    @timed("decide")
    async def decide(self, rule: Rule[T]) -> T:
        return await self._atomic(rule.twin)

    async def _atomic(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        async with self._lock:
            tx = _TablesTx(self.tables)
            result = await work(tx)
            if tx.changes:
                self.tables.write(tx.changes)
            return result

    @timed("next_number")
    async def next_number(self, name: str) -> int:
        async with self._lock:
            n = int(self.tables.get("seq", name) or 0) + 1
            self.tables.write([("seq", name, n)])
            return n

    @timed("last_number")
    async def last_number(self, name: str) -> int:
        return int(self.tables.get("seq", name) or 0)

    @timed("skip_numbers")
    async def skip_numbers(self, name: str, past: int) -> bool:
        async with self._lock:
            if int(self.tables.get("seq", name) or 0) >= past:
                return False
            self.tables.write([("seq", name, past)])
            return True

    @timed("page")
    async def page(
        self,
        table: str,
        *,
        after: int | None,
        limit: int,
        index: str | None = None,
        value: str | None = None,
        keep: Callable[[Any], bool] | None = None,
    ) -> Page[Any]:
        return self.tables.page(table, after=after, limit=limit, index=index, value=value, keep=keep)

    @timed("ping")
    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.tables.close()


def make_docs(settings: ServiceSettings, service: str, *, upgrade: Upgrade | None = None) -> Docs:
    """The store a service's settings choose, not yet opened: `memory`, `json` (under data_dir) or
    `redis`. `upgrade` runs on the in-process tables only (see `TablesDocs`)."""
    if settings.store == "redis":
        from shared.store.redis_docs import RedisDocs

        prefix = settings.redis_prefix or f"{service}:"
        return RedisDocs.from_url(settings.redis_url, prefix, timeout=settings.request_timeout)
    journal = Journal(settings.data_dir, fsync=settings.fsync) if settings.store == "json" else None
    return TablesDocs(Tables(journal), upgrade=upgrade)
