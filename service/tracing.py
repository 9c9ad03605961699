"""Trace context: a command's W3C `traceparent`/`tracestate` flows into the result and every event
it causes, so a downstream consumer's span joins the producer's trace.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, each command gets a span of its own, child of the
producer's context and linked to FastStream's span of the consumed batch, exported over OTLP/HTTP;
the events then carry that span's context. Without it nothing is recorded and the producer's
context is forwarded unchanged, as W3C Trace Context asks of a hop that does not trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

Headers = tuple[tuple[str, bytes], ...]

TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()


class CommandSpan:
    """What the processor learns while applying one command, reported on its span."""

    __slots__ = ("headers", "span")

    def __init__(self, headers: Headers, span: trace.Span | None) -> None:
        self.headers = headers
        self.span = span

    def outcome(self, command_type: str, status: str, error_code: str | None) -> None:
        if self.span is None:
            return
        self.span.update_name(f"{command_type} apply")
        self.span.set_attribute("program_builder.command.type", command_type)
        self.span.set_attribute("program_builder.command.outcome", status)
        if error_code:
            self.span.set_attribute("program_builder.command.error_code", error_code)


class Tracing:
    """Per-command spans when a tracer is configured; plain forwarding otherwise."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer

    @staticmethod
    def forwarded(headers: Headers) -> Headers:
        """The producer's trace context, as it came."""
        return tuple((name, value) for name, value in headers if name in TRACE_HEADERS)

    @contextmanager
    def command(
        self, headers: Headers, command_id: str | None, program_id: str | None
    ) -> Iterator[CommandSpan]:
        if self.tracer is None:
            yield CommandSpan(self.forwarded(headers), None)
            return
        incoming = {name: value.decode("latin-1") for name, value in self.forwarded(headers)}
        batch = trace.get_current_span().get_span_context()
        with self.tracer.start_as_current_span(
            "command apply",
            context=_PROPAGATOR.extract(incoming),
            kind=SpanKind.CONSUMER,
            links=[Link(batch)] if batch.is_valid else None,
            attributes={
                "messaging.system": "kafka",
                "messaging.message.id": command_id or "",
                "program_builder.program.id": program_id or "",
            },
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield CommandSpan(tuple((k, v.encode("latin-1")) for k, v in carrier.items()), span)
            span.set_status(Status(StatusCode.OK))


def tracer_provider(endpoint: str, service_name: str) -> TracerProvider:
    """An SDK provider exporting in batches over OTLP/HTTP to `<endpoint>/v1/traces`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
