"""`Docs` on Redis, for several instances of a service sharing one store.

Layout under the service's own prefix (never another service's keys):
`<p><table>:<key>` the JSON document; `<p><table>:~keys` a set of the table's keys;
`<p><table>:~order` and `<p><table>:~idx:<name>:<value>` sorted sets scored by sort key;
`<p>~seq:<name>` the counters. A transaction (`redis_tx.py`) reads with plain GETs and commits
with one Lua script (compare and set) that applies its writes, with the sets that index them,
only if every key it read still holds what it read: all of it lands or none, and a conflicting
change by another client makes it run again. One round trip per key read and one to commit, where
WATCH/GET/MULTI/EXEC took two per key and three more to commit, most of a request's client work.
`decide` runs a service's `Rule` script instead: one EVALSHA, no read before it, no retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import AppError, ServiceUnavailable
from shared.metrics import timed
from shared.paging import Page
from shared.store.docs import Rule
from shared.store.ordering import IndexKey, SortKey
from shared.store.redis_tx import COMPARE_AND_SET, UNREAD, Op, RedisTx

log = logging.getLogger("shared.store.redis")
T = TypeVar("T")

_MAX_ATTEMPTS = 100  # optimistic retries of one transaction before giving up with 503
_SCAN_BATCH = 256


@asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    """Redis down or too slow is the contract's 503, never a 500."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise ServiceUnavailable("The store is unavailable", retry_after=2) from exc
    except RedisError as exc:
        log.error("redis error", exc_info=exc)
        raise ServiceUnavailable("The store is unavailable", retry_after=2) from exc


# The counter moved up to ARGV[1] if it is below it, never down (`skip_numbers`).
_SKIP = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class _Ordering:
    def __init__(self, sort_key: SortKey, indexes: dict[str, IndexKey], stable: bool) -> None:
        self.sort_key = sort_key
        self.indexes = indexes
        self.stable = stable

    def unchanged(self, old: Any, new: Any) -> bool:
        return self.sort_key(old) == self.sort_key(new) and all(
            key(old) == key(new) for key in self.indexes.values()
        )


class RedisDocs:
    """`Docs` on one Redis database under `prefix`."""

    backend = "redis"

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._orderings: dict[str, _Ordering] = {}
        self.compare_and_set = redis.register_script(COMPARE_AND_SET)  # EVALSHA, loads on NOSCRIPT
        self._scripts: dict[str, AsyncScript] = {}

    @classmethod
    def from_url(
        cls, url: str, prefix: str, *, timeout: float = 2.0, max_connections: int = 256
    ) -> RedisDocs:
        # A blocking pool: a burst past max_connections waits for a connection (up to `timeout`)
        # instead of failing at once, which would turn load into 503s.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        return cls(Redis(connection_pool=pool), prefix)

    def doc_key(self, table: str, key: str) -> str:
        return f"{self.prefix}{table}:{key}"

    def _set_key(self, table: str, suffix: str) -> str:
        return f"{self.prefix}{table}:~{suffix}"

    def order(
        self,
        table: str,
        sort_key: SortKey,
        indexes: dict[str, IndexKey] | None = None,
        *,
        stable: bool = False,
    ) -> None:
        self._orderings[table] = _Ordering(sort_key, dict(indexes or {}), stable)

    def needs_old(self, table: str, new: Any) -> bool:
        """Whether writing `new` (None: deleting) needs the old value, to take the key out of the
        sorted sets it was in; other writes go blind: SET, SADD and ZADD are idempotent."""
        ordering = self._orderings.get(table)
        return ordering is not None and (new is None or not ordering.stable)

    async def open(self) -> None:
        """Nothing to load: the documents stay in Redis, and connections open as calls need them."""

    def queue_write(self, pipe: Pipeline, table: str, key: str, old: Any, new: Any) -> None:
        """`write_ops` on a pipeline (the bulk preload of the benchmark)."""
        for op in self.write_ops(table, key, old, new):
            pipe.execute_command(*op)

    def write_ops(self, table: str, key: str, old: Any, new: Any) -> list[Op]:
        """The commands that replace `old` (None: absent; UNREAD: not known, only where `needs_old`
        says it may be) by `new` (None: absent) and keep the sets in step."""
        name = self.doc_key(table, key)
        ops: list[Op] = []
        if new is None:
            ops += [("DEL", name), ("SREM", self._set_key(table, "keys"), key)]
        else:
            ops.append(("SET", name, orjson.dumps(new)))
            if old is None or old is UNREAD:  # a key known to exist is in the set already
                ops.append(("SADD", self._set_key(table, "keys"), key))
        ordering = self._orderings.get(table)
        known = old is not None and old is not UNREAD
        if ordering is None or (known and new is not None and ordering.unchanged(old, new)):
            return ops  # same sort key and index values: the sorted sets are right as they are
        for doc, add in ((old, False), (new, True)):
            if doc is None or doc is UNREAD:
                continue
            score = ordering.sort_key(doc)
            members = [self._set_key(table, "order")]
            members += [
                self._set_key(table, f"idx:{name}:{value}")
                for name, index_key in ordering.indexes.items()
                if (value := index_key(doc)) is not None
            ]
            ops += [("ZADD", zset, score, key) if add else ("ZREM", zset, key) for zset in members]
        return ops

    @timed("get")
    async def get(self, table: str, key: str) -> Any:
        async with _store_errors():
            raw = await self.redis.get(self.doc_key(table, key))
        return orjson.loads(raw) if raw is not None else None

    @timed("keys")
    async def keys(self, table: str) -> list[str]:
        async with _store_errors():
            members = await self.redis.smembers(self._set_key(table, "keys"))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    @timed("atomic")
    async def atomic(self, work: Callable[[RedisTx], Awaitable[T]]) -> T:
        for attempt in range(_MAX_ATTEMPTS):
            tx = RedisTx(self)
            async with _store_errors():
                try:
                    result = await work(tx)
                except AppError:
                    if await tx.validate():  # a refusal must rest on one consistent view, too
                        raise
                else:
                    if await (tx.commit() if tx.writes else tx.validate()):
                        return result
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise ServiceUnavailable("The store is too busy; try again")

    @timed("decide")
    async def decide(self, rule: Rule[T]) -> T:
        script = self._scripts.get(rule.script)
        if script is None:  # its SHA1 once; EVALSHA, loaded into Redis on its first NOSCRIPT
            script = self._scripts[rule.script] = self.redis.register_script(rule.script)
        keys = [self.doc_key(table, key) for table, key in rule.items]
        keys += [self._set_key(table, "keys") for table, _ in rule.items]
        keys += [self._set_key(table, suffix) for table, suffix in rule.sets]
        async with _store_errors():
            reply = await script(keys=keys, args=[self.prefix, *rule.args])
        return rule.answer(orjson.loads(reply))

    @timed("next_number")
    async def next_number(self, name: str) -> int:
        async with _store_errors():
            return int(await self.redis.incr(f"{self.prefix}~seq:{name}"))

    @timed("last_number")
    async def last_number(self, name: str) -> int:
        async with _store_errors():
            return int(await self.redis.get(f"{self.prefix}~seq:{name}") or 0)

    @timed("skip_numbers")
    async def skip_numbers(self, name: str, past: int) -> bool:
        script = self._scripts.get(_SKIP)
        if script is None:
            script = self._scripts[_SKIP] = self.redis.register_script(_SKIP)
        async with _store_errors():
            return bool(await script(keys=[f"{self.prefix}~seq:{name}"], args=[past]))

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
        zset = self._set_key(table, "order" if index is None else f"idx:{index}:{value}")
        async with _store_errors():
            items, next_after = await self._take(table, zset, after, limit, keep)
            if keep is None:
                total = int(await self.redis.zcard(zset))
            else:
                total = 0
                async for _, doc in self._scan(table, zset, None):
                    total += keep(doc)
        return Page(items, total, next_after)

    async def _take(
        self, table: str, zset: str, after: int | None, limit: int, keep: Callable[[Any], bool] | None
    ) -> tuple[list[Any], int | None]:
        items: list[Any] = []
        last: int | None = None
        async for sort, doc in self._scan(table, zset, after):
            if keep is not None and not keep(doc):
                continue
            if len(items) == limit:
                return items, last
            items.append(doc)
            last = sort
        return items, None

    async def _scan(self, table: str, zset: str, after: int | None) -> AsyncIterator[tuple[int, Any]]:
        low = "-inf" if after is None else f"({after}"
        while True:
            batch = cast(
                list[tuple[bytes, float]],
                await self.redis.zrangebyscore(zset, low, "+inf", start=0, num=_SCAN_BATCH, withscores=True),
            )
            if not batch:
                return
            raw = await self.redis.mget([self.doc_key(table, member.decode()) for member, _ in batch])
            for (_, score), doc in zip(batch, raw, strict=True):
                if doc is not None:  # deleted between the two reads
                    yield int(score), orjson.loads(doc)
            low = f"({int(batch[-1][1])}"

    @timed("ping")
    async def ping(self) -> None:
        async with _store_errors():
            await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
