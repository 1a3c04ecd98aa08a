"""What an order costs the Redis server: the commands clients send (MONITOR), the round trips they
take, and every command run, scripts' own included (INFO commandstats)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

# +1700000000.123456 [0 127.0.0.1:53422] "GET" "key"   (a client's command)
# +1700000000.123457 [0 lua] "SET" "key" "value"       (one a script ran)
_LINE = re.compile(r'^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"')


@dataclass(frozen=True)
class Counted:
    client_commands: int  # sent by clients (not run by a script)
    round_trips: int  # client commands, a MULTI ... EXEC block counted once (it is sent as one)
    script_commands: int  # run inside Redis by a script


def count_monitor(lines: Iterable[str]) -> Counted:
    """Tally MONITOR's output. A transaction's commands reach the server in one write, so each
    client's MULTI ... EXEC counts as one round trip; every other command as one."""
    client = trips = script = 0
    in_multi: set[str] = set()
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        source, command = match.group(1), match.group(2).upper()
        if source == "lua":
            script += 1
            continue
        client += 1
        if command == "MULTI":
            in_multi.add(source)
            trips += 1
        elif source in in_multi:
            if command in ("EXEC", "DISCARD"):
                in_multi.discard(source)
        else:
            trips += 1
    return Counted(client, trips, script)


class Monitor:
    """MONITOR on its own connection, read by a thread, for the length of a `with` block. It slows
    the server, so it watches a short run of its own, never a throughput run."""

    def __init__(self, host: str, port: int, db: int = 0) -> None:
        self.address = (host, port)
        self.lines: list[str] = []
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._prefix = f"[{db} "

    def __enter__(self) -> Monitor:
        self._socket = socket.create_connection(self.address, timeout=5)
        self._socket.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._socket is not None
        buffer = b""
        while True:
            try:
                chunk = self._socket.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            *complete, buffer = (buffer + chunk).split(b"\r\n")
            self.lines += [
                line.decode("utf-8", "replace") for line in complete if self._prefix.encode() in line
            ]

    def __exit__(self, *_: object) -> None:
        assert self._socket is not None and self._thread is not None
        self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(5)

    def counted(self) -> Counted:
        return count_monitor(self.lines)


def commands_run(url: str) -> int:
    """Commands the Redis server has run so far, scripts' own included (INFO commandstats)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())
    finally:
        client.close()
