"""Load generators. Closed loop (a fixed number of connections, each sending its next request when the
last is answered: peak throughput): wrk when installed, else a Python (asyncio + aiohttp) fallback.
Open loop (requests sent at a constant offered rate whatever the answers: latency at a given load):
always the Python generator, timing each request from when it was due, so a stalled server shows up
as latency instead of quietly lowering the rate (no coordinated omission)."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

# A request maker: (sequence number) -> (method, path, headers, body)
Request = tuple[str, str, dict[str, str], bytes | None]
MakeRequest = Callable[[int], Request]


@dataclass(frozen=True)
class Result:
    """One load run: answers per second, latency percentiles in ms, and answers that were not 2xx."""

    rps: float
    p50: float
    p90: float
    p99: float
    requests: int
    errors: int
    offered: float | None = None  # open loop: the rate asked for
    share: float | None = None  # open loop: `offered` as a share of the peak measured just before
    # Open loop, what the errors were: refusals (429, 503: the system said no at once), gateway
    # timeouts (504), and no answer within the client's 5 s (or no room among those in flight).
    refused: int = 0
    gateway_timeouts: int = 0
    timeouts: int = 0
    p99_refused: float = float("nan")


def combine(results: list[Result]) -> Result | None:
    """Several runs of the same thing as one: mean rate and percentiles, summed counts."""
    if not results:
        return None
    n = len(results)
    return Result(
        rps=sum(r.rps for r in results) / n,
        p50=sum(r.p50 for r in results) / n,
        p90=sum(r.p90 for r in results) / n,
        p99=sum(r.p99 for r in results) / n,
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
    )


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q / 100 * len(sorted_ms)))]


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> Result:
    """The figures of `wrk --latency` output."""
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+(?:us|ms|s))\s*$", output, re.M))
    requests = int(re.search(r"^\s*(\d+) requests in", output, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    refused = int(errors.group(1)) if errors else 0
    answered = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return Result(
        # Answers that were not 2xx (a system shedding load refuses fast) are not throughput.
        rps=answered * (requests - refused) / requests if requests else 0.0,
        p50=_ms(latency["50"]),
        p90=_ms(latency["90"]),
        p99=_ms(latency["99"]),
        requests=requests,
        errors=refused + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
    )


_LUA = """
local counter = 0
local prefix = "%(prefix)s"
local headers = {%(headers)s}
request = function()
  counter = counter + 1
  local n = counter
  %(body)s
  headers["Idempotency-Key"] = "bench-" .. prefix .. "-" .. n
  return wrk.format("%(method)s", "%(path)s", headers, body)
end
"""

# The order body in Lua, to match `order_request` below: customers and books taken in turn.
ORDER_BODY_LUA = (
    'local books = {%(books)s}\n  local body = \'{"customer_id":"cust_\' .. (n %% 100) .. '
    '\'","books":[{"book_id":"\' .. books[(n %% #books) + 1] .. \'","quantity":1}],'
    '"payment_method":"credit_card","payment_token":"tok_visa"}\''
)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    headers: dict[str, str],
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    lua_body: str | None = None,
) -> Result:
    """Closed loop with wrk (one thread: the machine's cores are for the system under test)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout", "5s"]
        if lua_body is None:
            args += [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
        else:
            script = Path(tmp) / "request.lua"
            lua_headers = ", ".join(f'["{k}"]="{v}"' for k, v in headers.items())
            path = url.split("/", 3)[3] if url.count("/") >= 3 else ""
            script.write_text(
                _LUA
                % {
                    "headers": lua_headers,
                    "body": lua_body,
                    "method": method,
                    "path": "/" + path,
                    # Fresh in every run: wrk's Lua random is unseeded, and a key used in an earlier
                    # run would be answered from the idempotency record, not by placing an order.
                    "prefix": os.urandom(8).hex(),
                }
            )
            args += ["-s", str(script)]
        done = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)


REFUSALS = (429, 503)
NO_ANSWER = 0  # the status of a request that got no answer in time


def outcomes(answers: list[tuple[float, int]], elapsed: float, offered: float | None) -> Result:
    """(latency ms, status) of every request sent as one Result: the rate and percentiles of the 2xx
    answers (goodput, and the latency of what was admitted), the failures by kind."""
    served = sorted(ms for ms, status in answers if 200 <= status < 300)
    refused = sorted(ms for ms, status in answers if status in REFUSALS)
    return Result(
        rps=len(served) / elapsed,
        p50=percentile(served, 50),
        p90=percentile(served, 90),
        p99=percentile(served, 99),
        requests=len(answers),
        errors=len(answers) - len(served),
        offered=offered,
        refused=len(refused),
        gateway_timeouts=sum(status == 504 for _, status in answers),
        timeouts=sum(status == NO_ANSWER for _, status in answers),
        p99_refused=percentile(refused, 99),
    )


async def _send(session: aiohttp.ClientSession, base: str, request: Request) -> int:
    method, path, headers, body = request
    try:
        async with session.request(method, base + path, headers=headers, data=body) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return NO_ANSWER


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=5)
    )


async def closed_loop(base: str, make: MakeRequest, *, seconds: float, connections: int) -> Result:
    """The wrk fallback: `connections` workers, each sending its next request when answered."""
    answers: list[tuple[float, int]] = []
    numbers = itertools.count()
    async with _session(connections) as session:
        start = time.perf_counter()
        end = start + seconds

        async def worker() -> None:
            while (now := time.perf_counter()) < end:
                status = await _send(session, base, make(next(numbers)))
                answers.append(((time.perf_counter() - now) * 1000, status))

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return outcomes(answers, elapsed, None)


async def open_loop(
    base: str, make: MakeRequest, *, rate: float, seconds: float, max_in_flight: int = 512
) -> Result:
    """`rate` requests per second for `seconds`, each timed from when it was due; a request that finds
    `max_in_flight` still unanswered counts as an error (the server has fallen behind)."""
    answers: list[tuple[float, int]] = []
    in_flight: set[asyncio.Task[None]] = set()
    async with _session(max_in_flight) as session:

        async def one(n: int, due: float) -> None:
            status = await _send(session, base, make(n))
            answers.append(((time.perf_counter() - due) * 1000, status))

        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                answers.append((float("inf"), NO_ANSWER))
                continue
            task = asyncio.create_task(one(n, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        elapsed = time.perf_counter() - start
    return outcomes(answers, elapsed, rate)
