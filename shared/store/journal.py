"""A durable, append-only JSON-lines journal guarded by a directory lock.

Each acknowledged batch of changes is one line, `<crc32 hex> <json>\n`, written with a single
write(2): a batch is applied whole or not at all. A torn last line (the process died mid-write)
is cut off on open; a bad line followed by good ones is real corruption and refuses to open.
Compaction writes the live state to a temporary file and renames it over the journal, so the
file on disk is always either the old journal or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("shared.store.journal")

Batch = list[Any]


class StoreLocked(RuntimeError):
    """Another process has this data directory open."""


class StoreCorrupt(RuntimeError):
    """The journal has a damaged record that is not a torn tail; it is left untouched for an operator."""


def encode(batch: Batch) -> bytes:
    payload = orjson.dumps(batch)
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode(line: bytes) -> Batch | None:
    """The batch in a line, or None when the line is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        batch = orjson.loads(payload)
    except ValueError:
        return None
    return batch if isinstance(batch, list) else None


class Journal:
    """The journal file of one data directory, held exclusively by this process while open."""

    def __init__(self, directory: Path, *, fsync: bool = False, name: str = "journal.jsonl") -> None:
        self.directory = directory
        self.path = directory / name
        self.fsync = fsync
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._size = 0  # bytes of whole records in the file

    def open(self) -> Iterator[Batch]:
        """Lock the directory and yield every stored batch in order; then the journal takes appends."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            with contextlib.suppress(FileNotFoundError):
                (self.path.with_suffix(".tmp")).unlink()  # a compaction that died before its rename
            data = self.path.read_bytes() if self.path.exists() else b""
            good_end = 0
            for line_end, batch in self._scan(data):
                good_end = line_end
                yield batch
            if good_end < len(data):
                log.warning("cutting a torn last record off %s (%d bytes)", self.path, len(data) - good_end)
                with open(self.path, "r+b") as f:
                    f.truncate(good_end)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = good_end
        except BaseException:
            self.close()  # a store that failed to open must not keep its directory locked
            raise

    def _scan(self, data: bytes) -> Iterator[tuple[int, Batch]]:
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            batch = decode(data[start:end]) if end != -1 else None
            if batch is None:
                rest = data[end + 1 :] if end != -1 else b""
                if any(decode(line) is not None for line in rest.split(b"\n") if line):
                    raise StoreCorrupt(
                        f"{self.path}: damaged record at byte {start} followed by good ones; "
                        "restore a backup or remove the damaged line by hand"
                    )
                return
            start = end + 1
            yield start, batch

    def _lock(self) -> None:
        fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"data directory {self.directory} is in use by another process (pid {holder}); "
                "give each process its own DATA_DIR, or use the Redis store for several instances"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def append(self, batch: Batch) -> None:
        assert self._fd is not None, "journal is not open"
        line = encode(batch)
        try:
            written = os.write(self._fd, line)
            if written != len(line):  # a short write to a regular file: the disk or a quota is full
                raise OSError(f"short write to {self.path}")
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            # Cut the fragment off, or the next record would be glued to it and read as damage.
            os.ftruncate(self._fd, self._size)
            raise
        self._size += len(line)

    def rewrite(self, batches: Iterable[Batch]) -> None:
        """Replace the journal with `batches` (the live state), atomically."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for batch in batches:
                f.write(encode(batch))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._fsync_directory()
        assert self._fd is not None
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the lock file releases the flock
        self._fd = self._lock_fd = None
