"""The moves of a hold (hold, commit, release, return, expiry) and stock changes as `Rule`s: decided where
the data is, so buyers of one book never retry against each other. On Redis each is one Lua script
(one round trip); on memory and JSON its twin is the transaction body in `documents.py`. Both are
written to the same documents and answer alike, and the behaviour suites run both.

A script replies one JSON text: `{"made": bool, "hold": doc}` or `{"book": doc}` when it decided,
else `{"short": [...]}`, `{"too_large": cents}`, `{"conflict": message}`, `{"low": book doc}`,
`{"high": book doc}`, `{"missing": true}`, `{"gone": true}` (no hold to expire) or `{"unsure": true}`
(see `_EXPIRE`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from inventory_service import documents
from inventory_service.documents import BOOKS, HOLDS, OPEN_HOLDS
from inventory_service.domain import (
    STOCK_LIMIT,
    Book,
    BookNotFound,
    Hold,
    HoldConflict,
    HoldNotFound,
    HoldStatus,
    InsufficientStock,
    NotEnoughStock,
    TooMuchStock,
    TotalTooLarge,
)
from shared.store.docs import Rule

# KEYS: the hold, its open-hold marker, each wanted book; then their tables' key sets.
# ARGV: prefix, order id, expires_at, the most the lines may cost in cents ('' for no bound), then
# book id and quantity for each line, in KEYS' order. Prices are decimal strings with at most two
# places (Money), so the total is summed exactly in integer cents (below 2^53 by the input bounds).
_HOLD = """
local n = #KEYS / 2
local order_id, expires_at, max_cents = ARGV[2], ARGV[3], tonumber(ARGV[4])
local function cents(text)
  local whole, fraction = string.match(text, '^(%d+)%.?(%d*)$')
  return tonumber(whole) * 100 + tonumber(string.sub(fraction .. '00', 1, 2))
end
local wanted = {}
for i = 5, #ARGV, 2 do wanted[#wanted + 1] = {ARGV[i], tonumber(ARGV[i + 1])} end
local existing = redis.call('GET', KEYS[1])
if existing then
  local lines = cjson.decode(existing).lines
  local same = #lines == #wanted
  local have = {}
  for _, line in ipairs(lines) do have[line[1]] = line[2] end
  for _, w in ipairs(wanted) do same = same and have[w[1]] == w[2] end
  if not same then
    return cjson.encode({conflict = 'Order ' .. order_id .. ' already holds other lines'})
  end
  return '{"made":false,"hold":' .. existing .. '}'
end
local books, short = {}, {}
for i, w in ipairs(wanted) do
  local raw = redis.call('GET', KEYS[i + 2])
  local book = raw and cjson.decode(raw)
  local available = book and book.stock or 0
  if available < w[2] then
    short[#short + 1] = {book_id = w[1], requested = w[2], available = available}
  end
  books[i] = book
end
if #short > 0 then return cjson.encode({short = short}) end
if max_cents then
  local total = 0
  for i, w in ipairs(wanted) do total = total + cents(books[i].price) * w[2] end
  if total > max_cents then return cjson.encode({too_large = string.format('%d', total)}) end
end
local lines = {}
for i, w in ipairs(wanted) do
  local book = books[i]
  book.stock = book.stock - w[2]
  redis.call('SET', KEYS[i + 2], cjson.encode(book))
  lines[i] = {w[1], w[2], book.price}
end
local made = cjson.encode({order_id = order_id, lines = lines, status = 'held', expires_at = expires_at})
redis.call('SET', KEYS[1], made)
redis.call('SADD', KEYS[n + 1], order_id)
redis.call('SET', KEYS[2], 'true')
redis.call('SADD', KEYS[n + 2], order_id)
return '{"made":true,"hold":' .. made .. '}'
"""

# Settling a hold: KEYS are the hold and its open-hold marker, then their tables' key sets; ARGV
# starts with the prefix, the order id and the books' table. `finish` puts the hold's units back in
# the books it names (under the same prefix) when `restock`, sets its status, drops its marker.
_FINISH = """
local function finish(hold, target, restock)
  if restock then
    for _, line in ipairs(hold.lines) do
      local key = ARGV[1] .. ARGV[3] .. ':' .. line[1]
      local book = redis.call('GET', key)
      if book then  -- a book deleted meanwhile has no stock to return to
        book = cjson.decode(book)
        book.stock = book.stock + line[2]
        redis.call('SET', key, cjson.encode(book))
      end
    end
  end
  hold.status = target
  local done = cjson.encode(hold)
  redis.call('SET', KEYS[1], done)
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[2])
  return '{"made":true,"hold":' .. done .. '}'
end
"""

# ARGV (after the three above): source status, target status, '1' to restock.
_SETTLE = (
    _FINISH
    + """
local order_id, source, target = ARGV[2], ARGV[4], ARGV[5]
local raw = redis.call('GET', KEYS[1])
if not raw then return '{"missing":true}' end
local hold = cjson.decode(raw)
if hold.status == target then return '{"made":false,"hold":' .. raw .. '}' end
if hold.status ~= source then
  return cjson.encode({conflict = 'Hold for ' .. order_id .. ' is ' .. hold.status})
end
return finish(hold, target, ARGV[6] == '1')
"""
)

# ARGV (after the three above): now. Times compare as text once both are UTC in isoformat
# (`YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`) with the fraction padded; any other form is left to the
# twin (`{"unsure": true}`).
_EXPIRE = (
    _FINISH
    + """
local function instant(text)
  local base, fraction = string.match(text, '^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)%.?(%d*)%+00:00$')
  if not base or #fraction > 6 then return nil end
  return base .. '.' .. fraction .. string.rep('0', 6 - #fraction)
end
local raw = redis.call('GET', KEYS[1])
if not raw then return '{"gone":true}' end
local hold = cjson.decode(raw)
if hold.status ~= 'held' then return '{"gone":true}' end
local due, now = instant(hold.expires_at), instant(ARGV[4])
if not due or not now then return '{"unsure":true}' end
if due > now then return '{"made":false,"hold":' .. raw .. '}' end
return finish(hold, 'released', true)
"""
)

# KEYS: the book; then its table's key set. ARGV: prefix, delta, the stock limit.
_ADJUST = """
local raw = redis.call('GET', KEYS[1])
if not raw then return '{"missing":true}' end
local book = cjson.decode(raw)
local stock = book.stock + tonumber(ARGV[2])
if stock < 0 then return '{"low":' .. raw .. '}' end
if stock > tonumber(ARGV[3]) then return '{"high":' .. raw .. '}' end
book.stock = stock
local changed = cjson.encode(book)
redis.call('SET', KEYS[1], changed)
return '{"book":' .. changed .. '}'
"""


def hold(
    order_id: str, wanted: dict[str, int], expires_at: datetime, max_total: Decimal | None = None
) -> Rule[tuple[Hold, bool]]:
    bound = "" if max_total is None else str(int(max_total * 100))
    args: list[str | int] = [order_id, expires_at.isoformat(), bound]
    for book_id, quantity in wanted.items():
        args += [book_id, quantity]
    return Rule(
        _HOLD,
        [(HOLDS, order_id), (OPEN_HOLDS, order_id), *((BOOKS, book_id) for book_id in wanted)],
        args,
        partial(_hold_answer, max_total=max_total),
        lambda tx: documents.hold(tx, order_id, wanted, expires_at, max_total),
    )


def settle(
    order_id: str, source: HoldStatus, target: HoldStatus, *, restock: bool
) -> Rule[tuple[Hold, bool]]:
    return Rule(
        _SETTLE,
        [(HOLDS, order_id), (OPEN_HOLDS, order_id)],
        [order_id, BOOKS, source, target, "1" if restock else "0"],
        _hold_answer,
        lambda tx: documents.settle(tx, order_id, source, target, restock=restock),
    )


class Unsure(Exception):
    """The expiry script could not compare the times; the twin decides (`DocInventoryStore`)."""


def expire(order_id: str, now: datetime) -> Rule[Hold | None]:
    """Release the hold if its time is up as of `now` (see `documents.expire`)."""

    def answer(reply: dict[str, Any]) -> Hold | None:
        if "unsure" in reply:
            raise Unsure(order_id)
        return None if "gone" in reply else Hold.from_doc(reply["hold"])

    return Rule(
        _EXPIRE,
        [(HOLDS, order_id), (OPEN_HOLDS, order_id)],
        [order_id, BOOKS, now.isoformat()],
        answer,
        lambda tx: documents.expire(tx, order_id, now),
    )


def adjust_stock(book_id: str, delta: int) -> Rule[Book]:
    def answer(reply: dict[str, Any]) -> Book:
        if "missing" in reply:
            raise BookNotFound()
        if "low" in reply:
            raise NotEnoughStock(Book.from_doc(reply["low"]), delta)
        if "high" in reply:
            raise TooMuchStock(Book.from_doc(reply["high"]), delta)
        return Book.from_doc(reply["book"])

    return Rule(
        _ADJUST,
        [(BOOKS, book_id)],
        [delta, STOCK_LIMIT],
        answer,
        lambda tx: documents.adjust_stock(tx, book_id, delta),
    )


def _hold_answer(reply: dict[str, Any], max_total: Decimal | None = None) -> tuple[Hold, bool]:
    if "short" in reply:
        raise InsufficientStock(reply["short"])
    if "too_large" in reply and max_total is not None:
        raise TotalTooLarge(Decimal(reply["too_large"]) / 100, max_total)
    if "conflict" in reply:
        raise HoldConflict(reply["conflict"])
    if "missing" in reply:
        raise HoldNotFound()
    return Hold.from_doc(reply["hold"]), bool(reply["made"])
