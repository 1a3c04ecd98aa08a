"""Runs one process with uvicorn: `python -m <service>` calls `serve(...)`."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import metrics, tracing
from shared.context import REQUEST_ID_HEADER, request_id_var, sane_request_id
from shared.errors import error_body
from shared.logs import configure_logging
from shared.settings import ServiceSettings

MALFORMED = "Malformed HTTP request"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after a graceful stop and so dies by it; a clean stop exits 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


class EnvelopeHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, but a request it cannot parse (a bad byte in the path, a header
    line without a colon) gets the contract's envelope with a request id, not uvicorn's text/plain
    400. The connection is closed after it, as uvicorn does: nothing after the bad bytes can be
    trusted to start a request."""

    def send_400_response(self, msg: str) -> None:
        request_id = sane_request_id(None)
        token = request_id_var.set(request_id)
        try:
            body = error_body(MALFORMED)
        finally:
            request_id_var.reset(token)
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"x-content-type-options: nosniff\r\nconnection: close\r\n"
            + f"{REQUEST_ID_HEADER}: {request_id}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        )
        self.transport.write(head + body)
        self.transport.close()


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
        http=EnvelopeHttpTools,
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
