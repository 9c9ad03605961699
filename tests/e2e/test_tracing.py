"""Trace context through the real broker: the producer's W3C `traceparent` reaches the result and
the events a command causes; with OTLP configured, the service's own span sits in between and is
exported to a collector (a minimal OTLP/HTTP receiver here)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from service.config import Settings
from service.process.app import Service
from tests.support.kafka import CommandClient
from tests.support.local_server import LocalServer
from tests.support.programs import new_id


def traceparent() -> tuple[str, str, bytes]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01".encode()


def headers_of(client: CommandClient, topic: str, command_id: str) -> list[dict[str, bytes]]:
    return [
        dict(record.headers)
        for record in client.raw[topic]
        if command_id.encode() in (record.value or b"") or record.key == command_id.encode()
    ]


async def test_trace_context_is_forwarded_when_tracing_is_off(
    client: CommandClient,
) -> None:
    _, _, header = traceparent()
    command = client.command("program.create", new_id(), name="Traced")
    program = command["programId"]
    await client.request(command, headers=[("traceparent", header), ("tracestate", b"coach=1")])
    day = client.command("session.add", program, sessionId=new_id(), name="Day 1")
    await client.request(day, headers=[("traceparent", header)])
    await client.events_of(day["commandId"], 0, 1)

    result_headers = headers_of(client, client.topics.command_results, command["commandId"])
    assert result_headers[0]["traceparent"] == header
    assert result_headers[0]["tracestate"] == b"coach=1"
    (event,) = client.raw[client.topics.session_updated]
    assert dict(event.headers)["traceparent"] == header


class OtlpReceiver(LocalServer):
    """Accepts OTLP/HTTP protobuf exports on /v1/traces and keeps the spans."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[Any] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            body = await reader.readexactly(length)
            if lines[0].startswith("POST /v1/traces"):
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        self.spans.extend(scope.spans)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 0\r\n\r\n"
            )
            await writer.drain()


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as otlp:
        yield otlp


async def test_with_otlp_the_events_carry_the_services_span_which_is_exported(
    settings: Settings, receiver: OtlpReceiver
) -> None:
    traced = settings.model_copy(update={"otel_exporter_otlp_endpoint": receiver.endpoint})
    app = Service(traced).app
    await app.start()
    try:
        async with CommandClient(traced) as client:
            trace_id, parent_span, header = traceparent()
            command = client.command("program.create", new_id(), name="Traced")
            program = command["programId"]
            await client.request(command)
            day = client.command("session.add", program, sessionId=new_id(), name="Day 1")
            result = await client.request(day, headers=[("traceparent", header)])
            assert result["status"] == "applied"
            await client.events_of(day["commandId"], 0, 1)
            (event,) = client.raw[client.topics.session_updated]
            forwarded = dict(event.headers)["traceparent"].decode().split("-")
    finally:
        await app.stop()  # flushes the span processor

    # Same trace, a new parent: the service's span of this command.
    assert forwarded[1] == trace_id
    assert forwarded[2] != parent_span
    spans = {span.span_id.hex(): span for span in receiver.spans}
    ours = spans[forwarded[2]]
    assert ours.trace_id.hex() == trace_id
    assert ours.parent_span_id.hex() == parent_span
    assert ours.name == "session.add apply"
    attributes = {a.key: a.value.string_value for a in ours.attributes}
    assert attributes["program_builder.command.outcome"] == "applied"
    assert attributes["messaging.message.id"] == day["commandId"]
    # FastStream's span of the consumed batch is exported too, and linked from ours.
    assert [link.span_id.hex() for link in ours.links] != []
    assert any(link.span_id.hex() in spans for link in ours.links)
