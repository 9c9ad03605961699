"""A Kafka-protocol listener that refuses every SASL login, as a broker with the wrong credentials
configured would (the embedded Tansu cannot enforce SASL)."""

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

from tests.support.local_server import LocalServer

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED = 58


class RefusingBroker(LocalServer):
    """Answers ApiVersions, accepts the SASL handshake for `mechanism`, refuses the login."""

    def __init__(self, mechanism: str = "PLAIN") -> None:
        super().__init__()
        self.mechanism = mechanism
        self.logins = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            request = await reader.readexactly(size)
            api_key, version, correlation_id = struct.unpack(">hhi", request[:8])
            body = self._answer(api_key, version)
            if body is None:
                return
            writer.write(struct.pack(">ii", len(body) + 4, correlation_id) + body)
            await writer.drain()

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
