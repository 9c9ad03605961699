"""The FastStream application: a thin Kafka subscriber over the service layer, plus HTTP probes.

The subscriber consumes `<prefix>.commands` in batches with manual acks: a batch's offsets are
committed only after its transaction committed, so a crash in between redelivers it and the
inbox answers `duplicate`. Handlers never raise: a batch that cannot commit (database down) is
retried with backoff until it commits or the service stops (then it is not acked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from dataclasses import replace as replace_record
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy, FastStream
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.events import PrescriptionUpdated, SessionUpdated
from contracts.results import CommandResult
from service.config import Settings
from service.entrypoints import asyncapi as asyncapi_page
from service.handling import CommandProcessor, Record, Stopping
from service.kafka import create_producer, ensure_topics, security
from service.metrics import Metrics
from service.relay import OutboxRelay, Retention
from service.retry import until_available
from service.storage.database import create_pool, is_transient
from service.storage.migrations import check_schema_current
from service.storage.outbox import backlog as outbox_backlog
from service.tracing import Tracing, tracer_provider

log = logging.getLogger("program_builder")


class InFlight:
    """Counts batches being applied, so shutdown can wait until none is."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


@dataclass
class Runtime:
    """Per-process singletons, created at startup and closed at shutdown."""

    settings: Settings
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    processor: CommandProcessor | None = None
    relay: OutboxRelay | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    consuming: bool = False
    in_flight: InFlight = field(default_factory=InFlight)
    metrics: Metrics = field(default_factory=Metrics)


def _record(raw: ConsumerRecord[Any, Any]) -> Record:
    return Record(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value,
        headers=tuple((name, value or b"") for name, value in (raw.headers or ())),
    )


async def _parse_without_failing(
    records: tuple[ConsumerRecord[Any, Any], ...], original: Callable[..., Awaitable[Any]]
) -> Any:
    """FastStream's parser, fed headers it can decode: it decodes header values as UTF-8 and
    would fail on binary ones, dropping the batch. Our handler reads the original records."""
    safe = tuple(
        replace_record(
            record,
            headers=[
                (k, (v or b"").decode(errors="replace").encode()) for k, v in record.headers or ()
            ],
        )
        for record in records
    )
    message = await original(safe)
    message.raw_message = records
    return message


async def _raw_values(message: Any, original: Callable[..., Awaitable[Any]]) -> Any:
    """No JSON decoding by FastStream (a `content-type: application/json` header with a broken
    body would raise before our handler): the body stays the list of raw values."""
    return message.body


def build_broker(
    settings: Settings, metrics: Metrics, provider: TracerProvider | None = None
) -> KafkaBroker:
    middlewares: list[Any] = [
        KafkaPrometheusMiddleware(registry=metrics.registry, app_name="program-builder")
    ]
    if provider is not None:
        middlewares.append(KafkaTelemetryMiddleware(tracer_provider=provider))
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        middlewares=middlewares,
        security=security(settings),
        client_id="program-builder",
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        request_timeout_ms=15_000,
        logger=logging.getLogger("program_builder.broker"),
    )


def build_app(settings: Settings) -> tuple[AsgiFastStream | FastStream, Runtime]:
    """The application for these settings (tests build their own against their broker)."""
    runtime = Runtime(settings)
    topics = settings.topics
    provider = (
        tracer_provider(settings.otel_exporter_otlp_endpoint, settings.otel_service_name)
        if settings.otel_exporter_otlp_endpoint
        else None
    )
    broker = build_broker(settings, runtime.metrics, provider)
    tracing = Tracing(provider.get_tracer("program_builder") if provider else None)

    subscribers = [
        broker.subscriber(
            topics.commands,
            group_id=settings.consumer_group,
            batch=True,
            max_records=settings.consume_max_records,
            batch_timeout_ms=settings.consume_batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=_parse_without_failing,
            decoder=_raw_values,
            max_poll_interval_ms=10 * 60 * 1000,
            fetch_max_wait_ms=settings.consume_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            title=topics.commands,
            description="Program-building commands, keyed by programId (see CONTRACT.md).",
            include_in_schema=member == 0,  # one channel in the AsyncAPI document
        )
        for member in range(settings.consume_concurrency)
    ]

    async def consume_commands(message: KafkaMessage) -> None:
        """Apply a batch of commands (the body is left as bytes: `contracts` parses it)."""
        raw = message.raw_message
        records = [_record(r) for r in (raw if isinstance(raw, tuple) else (raw,))]
        if not records:
            return
        assert runtime.processor is not None
        started = time.perf_counter()
        async with runtime.in_flight.track():
            try:
                outcomes = await runtime.processor.process(records, runtime.stopping)
            except Stopping:
                log.warning(
                    "stopping with %d uncommitted commands: they will be redelivered", len(records)
                )
                return
            except Exception:
                # Not transient and not attributable to one record: never ack, never skip.
                log.exception(
                    "batch of %d could not be processed; stopping consumption", len(records)
                )
                runtime.stopping.set()
                return
            await message.ack()
        runtime.metrics.observe_batch(outcomes, time.perf_counter() - started)
        elapsed = (time.perf_counter() - started) * 1000
        for outcome in outcomes:
            log.info(
                "command processed",
                extra={
                    "command_id": str(outcome.command_id) if outcome.command_id else None,
                    "command_type": outcome.command_type,
                    "program_id": str(outcome.program_id) if outcome.program_id else None,
                    "outcome": outcome.status,
                    "error_code": outcome.error_code,
                    "events": outcome.events,
                    "batch_ms": round(elapsed, 2),
                },
            )

    for subscriber in subscribers:
        subscriber(consume_commands)

    # Documentation-only publishers: the relay publishes these from the outbox.
    broker.publisher(
        topics.command_results,
        title=topics.command_results,
        schema=CommandResult,
        description="One result per distinct commandId, keyed by commandId.",
    )
    broker.publisher(
        topics.prescription_updated,
        title=topics.prescription_updated,
        schema=PrescriptionUpdated,
        description="Prescription snapshots, keyed by prescriptionId.",
    )
    broker.publisher(
        topics.session_updated,
        title=topics.session_updated,
        schema=SessionUpdated,
        description="Session structure snapshots, keyed by sessionId.",
    )

    async def on_startup() -> None:
        # Started before its broker or database answer (a cluster coming up together), the
        # service waits for them with backoff instead of exiting.
        await until_available("broker", lambda: ensure_topics(settings), _kafka_unavailable)
        runtime.pool = await until_available(
            "database",
            lambda: create_pool(
                settings.database_url.get_secret_value(),
                settings.db_pool_size,
                settings.db_command_timeout_seconds,
            ),
            is_transient,  # includes cannot_connect_now: a server still starting
        )
        async with runtime.pool.acquire() as connection:
            await check_schema_current(connection)
        runtime.processor = CommandProcessor(runtime.pool, topics, tracing=tracing)
        runtime.producer = create_producer(settings)
        await runtime.producer.start()
        runtime.relay = OutboxRelay(
            runtime.pool,
            runtime.producer,
            required_topics=frozenset(topics.all()),
            on_published=runtime.metrics.published.inc,
            on_error=lambda error: runtime.metrics.publish_errors.labels(
                type(error).__name__
            ).inc(),
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_seconds,
        )
        retention = Retention(
            runtime.pool,
            outbox_seconds=settings.outbox_retention_seconds,
            inbox_seconds=settings.inbox_retention_seconds,
            interval=settings.retention_interval_seconds,
        )
        runtime.tasks = [
            asyncio.create_task(runtime.relay.run(runtime.stopping), name="outbox-relay"),
            asyncio.create_task(retention.run(runtime.stopping), name="retention"),
        ]

    async def after_startup() -> None:
        runtime.consuming = True
        log.info(
            "program-builder ready: consuming %s as group %s (broker %s)",
            topics.commands,
            settings.consumer_group,
            settings.kafka_bootstrap_servers,
        )

    async def on_shutdown() -> None:
        runtime.consuming = False
        runtime.stopping.set()

    async def after_shutdown() -> None:
        # The consumer has stopped; the in-flight batch has committed (or will be redelivered).
        await runtime.in_flight.wait_idle()
        for task in runtime.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runtime.relay is not None:
            await runtime.relay.drain(timeout=10)
        if runtime.producer is not None:
            await runtime.producer.stop()
        if runtime.pool is not None:
            try:
                await asyncio.wait_for(runtime.pool.close(), 10)
            except TimeoutError:
                log.warning("database connections still busy after 10 s; closing them")
                runtime.pool.terminate()
        if provider is not None:
            await asyncio.to_thread(provider.shutdown)  # flushes the last spans
        log.info("program-builder stopped")

    hooks: dict[str, Any] = {
        "on_startup": [on_startup],
        "after_startup": [after_startup],
        "on_shutdown": [on_shutdown],
        "after_shutdown": [after_shutdown],
    }
    specification = AsyncAPI(
        title="Program Builder",
        version="1.0.0",
        description="Applies training-program commands atomically and publishes prescription and "
        "session snapshots. Wire contract: CONTRACT.md.",
    )
    if settings.http_port == 0:
        return FastStream(broker, specification=specification, **hooks), runtime
    routes = [
        ("/healthz", _healthz()),
        ("/readyz", _readyz(runtime, broker)),
        ("/metrics", _metrics(runtime, subscribers)),
        *asyncapi_page.routes(),  # the committed document, renderer shipped: no CDN
    ]
    app = AsgiFastStream(
        broker,
        asgi_routes=routes,
        specification=specification,
        **hooks,
    )
    return app, runtime


def _kafka_unavailable(error: BaseException) -> bool:
    return isinstance(error, KafkaError | OSError | TimeoutError)


def _healthz() -> Any:
    @get(include_in_schema=False)
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"", status_code=204)

    return healthz


async def _observe_lag(runtime: Runtime, subscribers: list[Any]) -> None:
    """Lag of the partitions this process owns, from its consumers' own fetch state."""
    runtime.metrics.consumer_lag.clear()
    for subscriber in subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        for partition in consumer.assignment():
            high = consumer.highwater(partition)
            if high is None:
                continue  # nothing fetched from it yet
            try:
                position = await asyncio.wait_for(consumer.position(partition), 1)
            except Exception:  # noqa: S112 - a rebalance may take the partition meanwhile
                continue
            runtime.metrics.consumer_lag.labels(str(partition.partition)).set(
                max(0, high - position)
            )


def _metrics(runtime: Runtime, subscribers: list[Any]) -> Any:
    @get(include_in_schema=False)
    async def metrics(scope: Any) -> AsgiResponse:
        await _observe_lag(runtime, subscribers)
        if runtime.pool is not None:
            try:
                async with asyncio.timeout(2), runtime.pool.acquire() as connection:
                    pending, oldest = await outbox_backlog(connection)
                runtime.metrics.outbox_backlog.set(pending)
                runtime.metrics.outbox_oldest_seconds.set(oldest)
            except Exception as error:  # metrics must answer even when the database does not
                log.warning("outbox backlog unavailable: %s", error)
        return AsgiResponse(
            generate_latest(runtime.metrics.registry),
            status_code=200,
            headers={"content-type": CONTENT_TYPE_LATEST},
        )

    return metrics


def _readyz(runtime: Runtime, broker: KafkaBroker) -> Any:
    @get(include_in_schema=False)
    async def readyz(scope: Any) -> AsgiResponse:
        problems: list[str] = []
        if not runtime.consuming:
            problems.append("consumer not running")
        if runtime.pool is None:
            problems.append("database pool not open")
        else:
            try:
                async with asyncio.timeout(2):
                    await runtime.pool.fetchval("SELECT 1")
            except Exception as error:
                problems.append(f"database: {type(error).__name__}")
        try:
            async with asyncio.timeout(2):
                if not await broker.ping(timeout=2):
                    problems.append("broker: no answer")
        except Exception as error:
            problems.append(f"broker: {type(error).__name__}")
        if problems:
            return AsgiResponse("; ".join(problems).encode(), status_code=503)
        return AsgiResponse(b"", status_code=204)

    return readyz
