"""A TCP proxy in front of a real server, so tests can take it away (and give it back) for real."""

from __future__ import annotations

import asyncio

from tests.support.local_server import LocalServer


class TcpProxy(LocalServer):
    """Forwards 127.0.0.1:`port` to `target`; `close()` refuses and cuts every connection."""

    def __init__(self, port: int, target: int) -> None:
        super().__init__(port)
        self.target = target

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            return
        try:
            await asyncio.gather(
                _pipe(reader, upstream_writer),
                _pipe(upstream_reader, writer),
                return_exceptions=True,
            )
        finally:
            upstream_writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()  # one side ended: the other ends with it
