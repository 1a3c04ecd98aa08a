"""Runs one process with uvicorn: `python -m <service>` calls `serve(...)`."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from shared import metrics, tracing
from shared.logs import configure_logging
from shared.settings import ServiceSettings


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after a graceful stop and so dies by it; a clean stop exits 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


def serve(service: str, app_factory: str, settings: ServiceSettings) -> None:
    """Serve `app_factory` (a "module:function" path) on the settings' host and port."""
    configure_logging(service, settings.log_level, settings.log_format)
    tracing.configure(service)
    metrics.watch_gc()
    config = uvicorn.Config(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        # Longer than every client's pool expiry (30 s), so callers never reuse a closing socket.
        timeout_keep_alive=75,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    server.run()
    if not server.started:  # start-up failed (store locked, port taken): say so in the exit status
        raise SystemExit(3)
