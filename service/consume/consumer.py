"""The Kafka entry point: the broker, the commands subscriber, and its handler.

The subscriber consumes `<prefix>.commands` in batches with manual acks: a batch's offsets are
committed only after its transaction committed (what it wrote to the outbox is published
meanwhile, see `publish.after_commit`), so a crash in between redelivers it and the inbox answers
`duplicate`. The handler hands each batch to its consumer's `Pipeline` and returns once the
batch is decided, so the next one is fetched and decided while this one writes and commits; the
offsets committed are exactly the batch's own (the consumer's position is already past the next
batch). The handler never raises: a batch that cannot commit (database down) is retried with
backoff until it commits or the service stops (then it is not acked).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from service.apply.outcomes import Outcome
from service.apply.wire import Record
from service.config import Settings
from service.consume.pipeline import Pipeline
from service.publish.client_internals import poll_without_sleeping
from service.publish.kafka import security
from service.retry import Stopped, unless_stopped

log = logging.getLogger("program_builder")

BATCH_GRACE_SECONDS = 1.5
"""At a stop, how long the batch in flight has to commit and be acked (a batch takes
milliseconds; one waiting to retry gives up at once). Past it FastStream cancels the handler:
the transaction rolls back and the batch is redelivered to the next instance."""


ACK_GRACE_SECONDS = 0.5
"""At a stop, how long the offset commit of a committed batch may still take (milliseconds when
the broker answers); within `BATCH_GRACE_SECONDS`, so the handler ends before FastStream cancels
it mid-commit."""


class BatchMetrics(Protocol):
    def stage(self, name: str, seconds: float) -> None:
        """How long a command spent in a stage of its way (`queued`, `offset_commit`)."""

    def observe_batch(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        """A batch's outcomes, `seconds` after it was submitted."""


class Consuming(Protocol):
    """What the handler needs of the running process (`service.process.context`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def stopping(self) -> asyncio.Event: ...

    @property
    def metrics(self) -> BatchMetrics: ...

    @property
    def pipelines(self) -> dict[int, Pipeline]: ...

    def pipeline(self, member: int) -> Pipeline:
        """The pipeline of consumer `member`, made on its first batch."""


Running = Callable[[], Consuming | None]
"""The running process, or None before it has started (and after it has stopped)."""


def build_broker(
    settings: Settings, registry: CollectorRegistry, provider: TracerProvider | None = None
) -> KafkaBroker:
    middlewares: list[Any] = [
        KafkaPrometheusMiddleware(registry=registry, app_name="program-builder")
    ]
    if provider is not None:
        middlewares.append(KafkaTelemetryMiddleware(tracer_provider=provider))
    return KafkaBroker(
        # A list: FastStream wraps a string in one, and aiokafka then reads "a:1,b:2" as one host.
        [
            server.strip()
            for server in settings.kafka_bootstrap_servers.split(",")
            if server.strip()
        ],
        middlewares=middlewares,
        security=security(settings),
        client_id="program-builder",
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        request_timeout_ms=15_000,
        graceful_timeout=BATCH_GRACE_SECONDS,
        logger=logging.getLogger("program_builder.broker"),
        # No dependency injection: FastStream would resolve each context argument in a worker
        # thread, two thread hops per batch on the latency path. The handler takes the message.
        apply_types=False,
    )


def subscribe_commands(broker: KafkaBroker, settings: Settings, running: Running) -> list[Any]:
    """`CONSUME_CONCURRENCY` members of the consumer group, each applying its own batches with
    the `running` process (called per batch; the consumers start after it)."""
    topics = settings.topics

    subscribers = []
    for member in range(settings.consume_concurrency):

        async def apply_commands(message: KafkaMessage, member: int = member) -> None:
            process = running()
            if process is None:
                raise RuntimeError("a batch arrived before the process context was created")
            await consume_commands(message, process, member)

        subscriber = broker.subscriber(
            topics.commands,
            listener=DrainOnRevoke(running, member, settings),
            group_id=settings.consumer_group,
            batch=True,
            max_records=settings.consume_max_records,
            batch_timeout_ms=settings.consume_batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=parse_keeping_records,
            decoder=the_message,
            max_poll_interval_ms=10 * 60 * 1000,
            fetch_max_wait_ms=settings.consume_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            title=topics.commands,
            description="Program-building commands, keyed by programId (see CONTRACT.md).",
            include_in_schema=member == 0,  # one channel in the AsyncAPI document
        )
        subscriber(apply_commands)
        poll_without_sleeping(subscriber)
        subscribers.append(subscriber)
    return subscribers


class DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before a rebalance takes this consumer's partitions (aiokafka awaits this before it
    rejoins the group; the protocol is eager: every partition is revoked), stop submitting the
    fetch in hand and let the batches in flight commit and acknowledge their offsets while the
    partitions are still this consumer's: the next owner starts after them instead of applying
    them again (it would answer duplicate). Bounded by half the session timeout, within the
    rebalance timeout (equal to it): a database down holds the batches, not the group. Their
    events keep their order whatever happens: see `outbox` lanes."""

    def __init__(self, running: Running, member: int, settings: Settings):
        self.running = running
        self.member = member
        self.timeout = settings.kafka_session_timeout_ms / 2000

    def _pipeline(self) -> Pipeline | None:
        process = self.running()
        return None if process is None else process.pipelines.get(self.member)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pipeline = self._pipeline()
        if pipeline is None or not revoked:
            return
        pipeline.paused = True
        started = time.perf_counter()
        drained = await pipeline.drain(self.timeout)
        log.info(
            "partitions revoked: %s in %.0f ms",
            "batches in flight committed" if drained else "batches still in flight left behind",
            (time.perf_counter() - started) * 1000,
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pipeline = self._pipeline()
        if pipeline is not None:
            pipeline.paused = False


async def parse_keeping_records(
    records: tuple[ConsumerRecord[Any, Any], ...], original: Callable[..., Awaitable[Any]]
) -> Any:
    """FastStream's parser, fed headers it can decode: it decodes header values as UTF-8 and
    would fail on binary ones, dropping the batch. The handler reads the original records."""
    safe = tuple(
        replace(
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


async def the_message(message: Any, original: Callable[..., Awaitable[Any]]) -> Any:
    """No JSON decoding by FastStream (a `content-type: application/json` header with a broken
    body would raise before the handler): the handler gets the message, with its records."""
    return message


def stopping_consumers(subscribers: list[Any], *, joining_only: bool) -> list[Any]:
    """The aiokafka consumers of `subscribers` not stopped yet (with `joining_only`, those not
    assigned any partition yet: in a group join, with no batch that could be in flight)."""
    consumers = [s.consumer for s in subscribers if s.consumer is not None]
    return [c for c in consumers if not joining_only or not c.assignment()]


def record_of(raw: ConsumerRecord[Any, Any]) -> Record:
    return Record(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value,
        headers=tuple((name, value or b"") for name, value in (raw.headers or ())),
    )


async def commit_offsets(message: KafkaMessage, raws: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Commit the offsets of these records (each partition's last one + 1), not the consumer's
    position: that is already past the batches fetched after them."""
    consumer = message.consumer
    if not isinstance(consumer, AIOKafkaConsumer):  # FastStream's test broker: no offsets
        await message.ack()
        return
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for raw in raws:
        offsets[TopicPartition(raw.topic, raw.partition)] = OffsetAndMetadata(raw.offset + 1, "")
    await consumer.commit(offsets)


async def consume_commands(message: KafkaMessage, process: Consuming, member: int = 0) -> None:
    """Apply a fetch of commands (the bodies are left as bytes: `contracts` parses them), in
    batches of at most `consume_max_batch_bytes` each, one after the other through the
    consumer's pipeline; each batch commits its own offsets once applied."""
    raw = message.raw_message
    raws = raw if isinstance(raw, tuple | list) else (raw,)
    now_ms = time.time() * 1000
    for r in raws:
        process.metrics.stage("queued", (now_ms - r.timestamp) / 1000)
    pipeline = process.pipeline(member)
    for batch in batches_of(raws, process.settings.consume_max_batch_bytes):
        if process.stopping.is_set() or pipeline.paused:
            return  # not applied, not acked: redelivered (to the partition's next owner)
        applied = await pipeline.submit(
            [record_of(r) for r in batch], _completion(message, batch, process)
        )
        if process.stopping.is_set():
            # The last batch before a stop is committed and acked while the consumer runs.
            await asyncio.wait({applied})


def batches_of(
    raws: Sequence[ConsumerRecord[Any, Any]], max_bytes: int
) -> list[Sequence[ConsumerRecord[Any, Any]]]:
    """The records in order, cut into runs of at most `max_bytes` of values (a bigger record
    makes a batch of its own)."""
    batches: list[Sequence[ConsumerRecord[Any, Any]]] = []
    start = size = 0
    for index, raw in enumerate(raws):
        value = len(raw.value or b"")
        if index > start and size + value > max_bytes:
            batches.append(raws[start:index])
            start, size = index, 0
        size += value
    if start < len(raws):
        batches.append(raws[start:])
    return batches


def _completion(
    message: KafkaMessage, raws: Sequence[ConsumerRecord[Any, Any]], process: Consuming
) -> Callable[[list[Outcome]], Awaitable[None]]:
    """What follows a batch's commit: its offset commit, then its metrics and logs."""
    started = time.perf_counter()

    async def complete(outcomes: list[Outcome]) -> None:
        committed = time.perf_counter()
        try:
            # A broker that went away holds the offset commit; a stop does not wait for it (the
            # batch is committed: redelivered, it is answered duplicate).
            await unless_stopped(
                commit_offsets(message, raws), process.stopping, grace=ACK_GRACE_SECONDS
            )
        except Stopped:
            log.warning(
                "stopping before the offsets of %d committed commands were committed: they "
                "will be redelivered and answered duplicate",
                len(raws),
            )
        except Exception as error:  # a rebalance took the partitions: redelivered elsewhere
            log.warning(
                "the offsets of %d committed commands were not committed (%s: %s): they will "
                "be redelivered and answered duplicate",
                len(raws),
                type(error).__name__,
                error,
            )
        process.metrics.stage("offset_commit", time.perf_counter() - committed)
        _report(process, outcomes, time.perf_counter() - started)

    return complete


def _report(process: Consuming, outcomes: list[Outcome], seconds: float) -> None:
    process.metrics.observe_batch(outcomes, seconds)
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
                "batch_ms": round(seconds * 1000, 2),
            },
        )
