"""One optimistic transaction on Redis (see `RedisDocs.atomic`): what it read, as raw bytes too, and
the writes it will make, committed by one compare-and-set script only if nothing it read changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import orjson

if TYPE_CHECKING:
    from shared.store.redis_docs import RedisDocs

UNREAD = object()  # the old value of a key written without having been read (`RedisDocs.write_ops`)

Op = tuple[Any, ...]  # (command, key, *arguments)

# Compare and set, atomic as every script is. The checks: KEYS[1..ARGV[1]] must hold exactly the
# bytes ARGV[3..], and the keys after them up to KEYS[ARGV[2]] must be absent; if any differs,
# nothing is written and the answer is 0. Then the ops (from `write_ops`) run in order, each as
# command, index into KEYS, argument count, arguments: every key a script touches is in KEYS, as
# Redis requires of scripts that must run on a cluster or a proxy.
COMPARE_AND_SET = """
local present, checked = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, present do
  if redis.call('GET', KEYS[i]) ~= ARGV[i + 2] then return 0 end
end
for i = present + 1, checked do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
local a = present + 3
while a <= #ARGV do
  local n = tonumber(ARGV[a + 2])
  redis.call(ARGV[a], KEYS[tonumber(ARGV[a + 1])], unpack(ARGV, a + 3, a + 2 + n))
  a = a + 3 + n
end
return 1
"""


class RedisTx:
    """What one attempt read (as raw bytes too, to compare at commit) and the writes it will make."""

    def __init__(self, docs: RedisDocs) -> None:
        self.docs = docs
        self.raw: dict[tuple[str, str], bytes | None] = {}
        self.read: dict[tuple[str, str], Any] = {}
        self.writes: dict[tuple[str, str], Any] = {}

    async def get(self, table: str, key: str) -> Any:
        if (table, key) in self.writes:
            return self.writes[table, key]
        if (table, key) not in self.read:
            raw = await self.docs.redis.get(self.docs.doc_key(table, key))
            self._remember((table, key), cast(bytes | None, raw))
        return self.read[table, key]

    def _remember(self, item: tuple[str, str], raw: bytes | None) -> None:
        self.raw[item] = raw
        self.read[item] = orjson.loads(raw) if raw is not None else None

    def put(self, table: str, key: str, doc: Any) -> None:
        self.writes[table, key] = doc

    def delete(self, table: str, key: str) -> None:
        self.writes[table, key] = None

    async def validate(self) -> bool:
        """Whether what was read is one consistent view: a single GET is atomic by itself,
        several must all still hold what they held (the script with checks only)."""
        return len(self.raw) < 2 or await self._compare_and_set([])

    async def commit(self) -> bool:
        """Apply the writes if nothing read changed since; False for a conflict (run again)."""
        # Where the old value of a key written decides the index maintenance (`needs_old`), it is
        # read (in one round trip for all) and checked like the rest; other writes go blind.
        unread = [
            item
            for item, doc in self.writes.items()
            if item not in self.read and self.docs.needs_old(item[0], doc)
        ]
        if unread:
            names = [self.docs.doc_key(table, key) for table, key in unread]
            for item, raw in zip(unread, await self.docs.redis.mget(names), strict=True):
                self._remember(item, cast(bytes | None, raw))
        ops = [
            op
            for (table, key), doc in self.writes.items()
            for op in self.docs.write_ops(table, key, self.read.get((table, key), UNREAD), doc)
        ]
        return await self._compare_and_set(ops)

    async def _compare_and_set(self, ops: list[Op]) -> bool:
        checks = sorted(self.raw.items(), key=lambda item: item[1] is None)  # present ones first
        keys = [self.docs.doc_key(table, key) for (table, key), _ in checks]
        expected = [raw for _, raw in checks if raw is not None]
        args: list[Any] = [len(expected), len(checks), *expected]
        index = {name: i for i, name in enumerate(keys, start=1)}
        for command, name, *arguments in ops:
            if name not in index:
                keys.append(name)
                index[name] = len(keys)
            args += [command, index[name], len(arguments), *arguments]
        return bool(await self.docs.compare_and_set(keys=keys, args=args))
