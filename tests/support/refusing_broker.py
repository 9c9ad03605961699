"""A Kafka-protocol listener that refuses every SASL login, as a broker with the wrong credentials
configured would (the embedded Tansu cannot run SASL here: ENVIRONMENT.md)."""

from __future__ import annotations

import asyncio
import struct

from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    ApiVersionResponse_v1,
    SaslAuthenticateResponse_v0,
    SaslAuthenticateResponse_v1,
    SaslHandShakeResponse_v1,
)

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED = 58


class RefusingBroker:
    """Answers ApiVersions, accepts the SASL handshake for `mechanism`, refuses the login."""

    def __init__(self, mechanism: str = "PLAIN") -> None:
        self.mechanism = mechanism
        self.server: asyncio.Server | None = None
        self.clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self.logins = 0

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> RefusingBroker:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        handlers = list(self.clients.values())
        for writer in list(self.clients):
            writer.close()  # the handler sees the end of its stream and returns
        await asyncio.gather(*handlers)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.clients[writer] = task
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                request = await reader.readexactly(size)
                api_key, version, correlation_id = struct.unpack(">hhi", request[:8])
                body = self._answer(api_key, version)
                if body is None:
                    break
                writer.write(struct.pack(">ii", len(body) + 4, correlation_id) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.clients.pop(writer, None)
            writer.close()

    def _answer(self, api_key: int, version: int) -> bytes | None:
        if api_key == API_VERSIONS:
            supported = [(API_VERSIONS, 0, 2), (SASL_HANDSHAKE, 0, 1), (SASL_AUTHENTICATE, 0, 1)]
            if version == 0:
                return ApiVersionResponse_v0(0, supported).encode()
            return ApiVersionResponse_v1(0, supported, 0).encode()
        if api_key == SASL_HANDSHAKE:
            return SaslHandShakeResponse_v1(0, [self.mechanism]).encode()
        if api_key == SASL_AUTHENTICATE:
            self.logins += 1
            message = "Authentication failed: invalid credentials"
            if version == 0:
                return SaslAuthenticateResponse_v0(
                    SASL_AUTHENTICATION_FAILED, message, b""
                ).encode()
            return SaslAuthenticateResponse_v1(SASL_AUTHENTICATION_FAILED, message, b"", 0).encode()
        return None  # anything else: hang up, as a broker does before authentication
