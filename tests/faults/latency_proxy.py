"""A TCP proxy on a free loopback port that forwards bytes to a target port, holding each chunk from a
client for `delay` seconds (settable at any time) before it goes on to the server: a slow link. It
can also lose the server's answers (`drop_answers`: the request reaches the server, the client's
connection is cut instead of answered) and stand for a server that is gone (`refuse`: every
connection is cut at once, live ones included).

It runs in the test's event loop; the processes under test connect to it like to any server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator


class LatencyProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target_port`; counts what clients send through it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.drop_answers = False
        self._refuse = False
        self.connections = 0  # accepted from clients
        self.chunks = 0  # received from clients, counted on arrival (each goes on after the delay)
        self.forwarded = 0  # sent on to the server, after their delay
        self.answers = 0  # chunks from the server, relayed to clients
        self.marker = b""  # chunks containing it are held back by the next of `held_back`'s delays
        self.held_back: list[float] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def refuse(self) -> bool:
        return self._refuse

    @refuse.setter
    def refuse(self, value: bool) -> None:
        self._refuse = value
        if value:
            for task in list(self._tasks):  # kept-alive connections are cut too
                task.cancel()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and cut every connection through it."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._refuse:
            client_writer.close()
            return
        task = asyncio.create_task(self._connect(client_reader, client_writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()  # as a refused connection would look to the client
            return
        await asyncio.gather(
            self._pipe(self._arrivals(client_reader), server_writer),
            self._pipe(self._answers(server_reader), client_writer),
        )

    async def _answers(self, reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
        """The server's chunks; while answers are dropped, the first one ends the connection unsent."""
        async for chunk in _chunks(reader):
            if self.drop_answers:
                return
            self.answers += 1
            yield chunk

    async def _arrivals(self, reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
        """Each chunk from a client, `delay` seconds after it arrived. Read on arrival (and counted
        then), so a chunk never waits behind the delay of the one before it."""
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def receive() -> None:
            async for chunk in _chunks(reader):
                self.chunks += 1
                due.put_nowait((loop.time() + self._delay_of(chunk), chunk))
            due.put_nowait((loop.time(), b""))

        receiving = asyncio.create_task(receive())
        try:
            while True:
                at, chunk = await due.get()
                if not chunk:
                    return
                await asyncio.sleep(max(0.0, at - loop.time()))
                self.forwarded += 1
                yield chunk
        finally:
            receiving.cancel()
            await asyncio.gather(receiving, return_exceptions=True)

    def hold_back(self, marker: bytes, *delays: float) -> None:
        """Hold the next chunks that contain `marker` for `delays` seconds, one delay each."""
        self.marker, self.held_back = marker, list(delays)

    def _delay_of(self, chunk: bytes) -> float:
        if self.marker and self.held_back and self.marker in chunk:
            return self.held_back.pop(0)
        return self.delay

    async def _pipe(self, chunks: AsyncGenerator[bytes, None], writer: asyncio.StreamWriter) -> None:
        """Copy until the source ends, then close the far side (which ends the other direction)."""
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    writer.write(chunk)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _chunks(reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(65536):
            yield chunk
