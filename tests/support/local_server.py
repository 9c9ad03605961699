"""One base for the tests' own servers on 127.0.0.1 (the TCP proxy, the refusing broker, the OTLP
receiver): a listener that can be opened and closed again, which knows its connections and cuts
them all on close, so a test can take a server away for real and leave nothing running."""

from __future__ import annotations

import asyncio
from typing import Self


class LocalServer:
    """Serves each connection with `serve`; `port` 0 takes any free port at `open()`."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self.server: asyncio.Server | None = None
        self.connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    @property
    def port(self) -> int:
        if self.server is None:
            return self._port
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._connected, "127.0.0.1", self._port)

    async def close(self) -> None:
        """Refuse new connections and cut the open ones (their handlers then end)."""
        if self.server is not None:
            self._port = self.port  # a reopen listens where clients were told to connect
            self.server.close()
            self.server = None
        handlers = list(self.connections.values())
        for writer in list(self.connections):
            writer.transport.abort()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[writer] = task
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the peer went away, or `close` cut it
        finally:
            self.connections.pop(writer, None)
            writer.transport.abort()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
