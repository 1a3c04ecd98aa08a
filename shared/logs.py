"""Logging set-up: one JSON object per line, or readable lines in a terminal, with the request id
and the trace id; and the access line of every request, written straight as bytes when the lines
are JSON (the same object `logging` would make, at a fraction of its cost on the hot path)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any

import orjson

from shared import tracing
from shared.context import request_id_var

_UNSHOWN = ("service", "trace_id")  # not in a terminal's lines: too long to read
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        hop = tracing.current.get()
        record.trace_id = hop.trace_id if hop is not None else None
        return True


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, request_id, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "service": getattr(record, "service", None),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and k not in entry})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines for a developer's terminal, still carrying the request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED and k not in _UNSHOWN
        )
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname:<7} "
        line += f"{getattr(record, 'service', '-')}: {record.getMessage()} {extras}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


access_log = logging.getLogger("access")


class _AccessWriter:
    """The JSON handler's stream, written to without `logging`'s record, filter and formatter."""

    def __init__(self, service: str, handler: logging.StreamHandler[Any]) -> None:
        self.service = service
        self.handler = handler
        self.handlers = [handler]
        self.out = handler.stream.buffer

    def write(self, fields: dict[str, Any]) -> bool:
        """False when the set-up changed since (another handler, as a test's capture adds)."""
        if logging.root.handlers != self.handlers:
            return False
        now = time.time()
        hop = tracing.current.get()
        entry = {
            "time": _timestamp(now),
            "level": "info",
            "service": self.service,
            "request_id": request_id_var.get(),
            "trace_id": hop.trace_id if hop is not None else None,
            "logger": "access",
            "message": "request",
        }
        entry.update(fields)
        line = orjson.dumps(entry, default=str) + b"\n"
        with self.handler.lock or contextlib.nullcontext():
            self.out.write(line)
            self.out.flush()
        return True


_writer: _AccessWriter | None = None


def access_line(fields: dict[str, Any]) -> None:
    """The access line of one request: `fields` after the time, level, service, ids and logger."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    if _writer is None or not _writer.write(fields):
        access_log.info("request", extra=fields)


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Route every logger (uvicorn's too) to stdout in `json`, `text`, or `auto` (text on a tty)."""
    global _writer
    use_json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _writer = _AccessWriter(service, handler) if use_json and hasattr(sys.stdout, "buffer") else None
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
