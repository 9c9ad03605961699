"""The composition root: one `Service` assembles the broker, the commands subscriber, the
documentation-only publishers, the HTTP routes and the lifecycle hooks for given settings.

Startup creates the `ProcessContext` (waiting for broker and database), which the commands
handler is given with each batch; shutdown stops fetching first,
then closes the context, which drains in the order the guarantees need. Each step of a stop is
bounded, so SIGTERM to exit stays under 5 s even when the broker or the database is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from faststream import FastStream
from faststream.asgi import AsgiFastStream
from faststream.specification import AsyncAPI

from contracts.events import PrescriptionUpdated, ProgramUpdated, SessionUpdated
from contracts.results import CommandResult
from service.config import Settings
from service.consume.consumer import (
    BATCH_GRACE_SECONDS,
    build_broker,
    stopping_consumers,
    subscribe_commands,
)
from service.process import asyncapi as asyncapi_page
from service.process import http
from service.process.context import ProcessContext
from service.process.metrics import Metrics
from service.publish.client_internals import close_connections
from service.tracing import Tracing, tracer_provider

log = logging.getLogger("program_builder")

CONSUMERS_STOP_SECONDS = 2.0
"""At a stop, when consumers still stopping get their connections closed: after the batch in
flight had its `BATCH_GRACE_SECONDS`, while a group join would hold them much longer. With the
`CLOSE_SECONDS` that follow, SIGTERM to exit stays under 5 s whatever the broker does."""


class Service:
    """The application for these settings (tests build their own against their broker)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.process: ProcessContext | None = None
        self.consuming = False
        self._cut: asyncio.Task[None] | None = None
        self.provider = (
            tracer_provider(settings.otel_exporter_otlp_endpoint, settings.otel_service_name)
            if settings.otel_exporter_otlp_endpoint
            else None
        )
        tracer = self.provider.get_tracer("program_builder") if self.provider else None
        self.tracing = Tracing(tracer)
        self.broker = build_broker(settings, self.metrics.registry, self.provider)
        self.subscribers = subscribe_commands(self.broker, settings, lambda: self.process)
        self._document_outputs()
        hooks: dict[str, Any] = {
            "on_startup": [self._start],
            "after_startup": [self._started],
            "on_shutdown": [self._stop],
            "after_shutdown": [self._stopped],
        }
        specification = AsyncAPI(
            title="Program Builder",
            version="1.0.0",
            description="Applies training-program commands atomically and publishes prescription "
            "and session snapshots. Wire contract: CONTRACT.md.",
        )
        self.app: FastStream | AsgiFastStream
        if settings.http_port == 0:
            self.app = FastStream(self.broker, specification=specification, **hooks)
        else:
            self.app = AsgiFastStream(
                self.broker,
                asgi_routes=[
                    *http.routes(self.running, self.broker, self.metrics, self.subscribers),
                    *asyncapi_page.routes(),  # the committed document, renderer shipped: no CDN
                ],
                specification=specification,
                **hooks,
            )

    def running(self) -> ProcessContext | None:
        """The process context while the consumer runs (for the readiness probe)."""
        return self.process if self.consuming else None

    def _document_outputs(self) -> None:
        """Documentation-only publishers: the relay publishes these topics from the outbox."""
        topics = self.settings.topics
        for topic, schema, description in (
            (
                topics.command_results,
                CommandResult,
                "One result per distinct commandId, keyed by commandId.",
            ),
            (
                topics.prescription_updated,
                PrescriptionUpdated,
                "Prescription snapshots, keyed by prescriptionId.",
            ),
            (
                topics.session_updated,
                SessionUpdated,
                "Session structure snapshots, keyed by sessionId.",
            ),
            (
                topics.program_updated,
                ProgramUpdated,
                "Program snapshots (name, weeks, week labels, sessions), keyed by programId.",
            ),
        ):
            self.broker.publisher(topic, title=topic, schema=schema, description=description)

    async def _start(self) -> None:
        self.process = await ProcessContext.create(
            self.settings, self.metrics, self.tracing, self.stopping
        )

    async def _started(self) -> None:
        self.consuming = True
        log.info(
            "program-builder ready: consuming %s as group %s (broker %s)",
            self.settings.topics.commands,
            self.settings.consumer_group,
            self.settings.kafka_bootstrap_servers,
        )

    async def _stop(self) -> None:
        self.consuming = False
        self.stopping.set()
        self._cut = asyncio.create_task(self._cut_consumers())
        if self.process is not None:
            # Batches still committing behind the handler (see `Pipeline`) commit and ack their
            # offsets while the consumers run: a stopped consumer commits no offset.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.in_flight.wait_idle(), BATCH_GRACE_SECONDS)

    async def _cut_consumers(self) -> None:
        """Consumers in a group join are cut at once (nothing of theirs is in flight); the
        others, if still stopping once the batch in flight had its grace, a little later."""
        for delay, joining_only in ((0.0, True), (CONSUMERS_STOP_SECONDS, False)):
            await asyncio.sleep(delay)
            if consumers := stopping_consumers(self.subscribers, joining_only=joining_only):
                log.info(
                    "closing the connections of %d consumer(s) %s",
                    len(consumers),
                    "in a group join" if joining_only else f"still stopping after {delay} s",
                )
                await close_connections(consumers)

    async def _stopped(self) -> None:
        # The consumers have stopped; the batch in flight committed (or will be redelivered).
        if self._cut is not None:
            self._cut.cancel()
            await asyncio.gather(self._cut, return_exceptions=True)
        if self.process is not None:
            await self.process.aclose()
            self.process = None
        if self.provider is not None:
            await asyncio.to_thread(self.provider.shutdown)  # flushes the last spans
        log.info("program-builder stopped")
