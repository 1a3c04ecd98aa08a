"""Placing an order and moving it along as `Rule`s: decided where the data is, in one round trip,
so orders placed under one caller's Idempotency-Keys never retry against each other on that
caller's key count. On Redis each is one Lua script; on memory and JSON its twin in `documents.py`
runs as one transaction. Both write the same documents and answer alike; the store's behaviour
suite runs both.

A script replies one JSON text: `{"made": true}` or `{"moved": true}` when it wrote, else
`{"placed": order_id}` (the key is bound already), `{"reused": true}` (the key came with another
body), `{"old": true}` (a key recorded before the upgrade), `{"too_many": true}` (the caller holds
its limit of keys), `{"moved": false, "order": doc}` or `{"missing": true}`."""

from __future__ import annotations

import time
from typing import Any

import orjson

from sales_service import documents
from sales_service.documents import CUSTOMER, LEASES, ORDERS, PENDING
from sales_service.domain import AlreadyPlaced, Order, OrderNotFound
from shared import idempotency
from shared.errors import Conflict
from shared.idempotency import HOLDERS, KEYS, Key, KeyReused, TooManyKeys
from shared.store.docs import Rule

# KEYS: the order, its pending marker and its lease, then (with an Idempotency-Key) the key's
# record and its caller's count of keys; then those tables' key sets in the same order; then the
# orders' sorted set and the customer's. ARGV: prefix, order id, order number, the order's JSON,
# the lease's JSON ('' for none), then with a key: its record's JSON, fingerprint, digest, caller
# and the most keys a caller may hold.
_CREATE = """
local n = (#KEYS - 2) / 2
local order_id, number = ARGV[2], ARGV[3]
if n == 5 then
  local raw = redis.call('GET', KEYS[4])
  if raw then
    local record = cjson.decode(raw)
    if record.fingerprint ~= ARGV[7] then return '{"reused":true}' end
    if not record.target then return '{"old":true}' end
    return cjson.encode({placed = record.target})
  end
  local held = tonumber(redis.call('GET', KEYS[5]) or '0') + 1
  if held > tonumber(ARGV[10]) then return '{"too_many":true}' end
  redis.call('SET', KEYS[4], ARGV[6])
  redis.call('SADD', KEYS[n + 4], ARGV[8])
  redis.call('SET', KEYS[5], tostring(held))
  redis.call('SADD', KEYS[n + 5], ARGV[9])
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[n + 1], order_id)
redis.call('ZADD', KEYS[2 * n + 1], number, order_id)
redis.call('ZADD', KEYS[2 * n + 2], number, order_id)
redis.call('SET', KEYS[2], 'true')
redis.call('SADD', KEYS[n + 2], order_id)
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[3], ARGV[5])
  redis.call('SADD', KEYS[n + 3], order_id)
end
return '{"made":true}'
"""

# KEYS: the order, its pending marker and its lease, then their tables' key sets. ARGV: prefix,
# order id, the expected status and payment status, the new order's JSON, '1' if it is unsettled.
# The order's number and customer never change, so its sorted sets stay as they are.
_SWAP = """
local raw = redis.call('GET', KEYS[1])
if not raw then return '{"missing":true}' end
local current = cjson.decode(raw)
if current.status ~= ARGV[3] or current.payment_status ~= ARGV[4] then
  return '{"moved":false,"order":' .. raw .. '}'
end
redis.call('SET', KEYS[1], ARGV[5])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[2], 'true')
  redis.call('SADD', KEYS[5], ARGV[2])
else
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SREM', KEYS[5], ARGV[2])
  redis.call('SREM', KEYS[6], ARGV[2])
end
return '{"moved":true}'
"""

_ITEMS = (ORDERS, PENDING, LEASES)


def _json(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def create(order: Order, lease: tuple[str, float] | None, key: Key | None, limit: int) -> Rule[None]:
    """Store the new `order` (leased, its key bound) unless `key` is bound already."""
    args: list[str | int] = [
        order.order_id,
        documents.number(order.to_doc()),
        _json(order.to_doc()),
        "" if lease is None else _json({"owner": lease[0], "until": lease[1]}),
    ]
    items = [(table, order.order_id) for table in _ITEMS]
    if key is not None:
        record = {"fingerprint": key.fingerprint, "target": order.order_id, "holder": key.holder}
        args += [_json({**record, "at": time.time()}), key.fingerprint, key.digest, key.holder, limit]
        items += [(KEYS, key.digest), (HOLDERS, key.holder)]

    def answer(reply: dict[str, Any]) -> None:
        if "placed" in reply:
            raise AlreadyPlaced(reply["placed"])
        if "reused" in reply:
            raise KeyReused()
        if "old" in reply:
            raise Conflict(idempotency.OLD_KEY)
        if "too_many" in reply:
            raise TooManyKeys(headers={"Retry-After": "60"})

    return Rule(
        _CREATE,
        items,
        args,
        answer,
        lambda tx: documents.create(tx, order, lease, key, limit),
        sets=[(ORDERS, "order"), (ORDERS, f"idx:{CUSTOMER}:{order.customer_id}")],
    )


def swap(expected: Order, new: Order) -> Rule[tuple[Order, bool]]:
    """Store `new` if the stored order still has `expected`'s status and payment status; the order
    as stored now, and whether it moved."""

    def answer(reply: dict[str, Any]) -> tuple[Order, bool]:
        if "missing" in reply:
            raise OrderNotFound()
        if reply["moved"]:
            return new, True
        return Order.from_doc(reply["order"]), False

    return Rule(
        _SWAP,
        [(table, expected.order_id) for table in _ITEMS],
        [
            expected.order_id,
            expected.status,
            expected.payment_status,
            _json(new.to_doc()),
            int(new.unsettled),
        ],
        answer,
        lambda tx: documents.swap(tx, expected, new),
    )
