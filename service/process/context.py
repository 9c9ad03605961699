"""The per-process singletons, created once the broker and database answer and closed at the end.

`ProcessContext.create` waits for its dependencies (a stop interrupts the wait), and whatever it
opened before a failure is closed again. `aclose` drains in the order the guarantees need: the
batch in flight commits, the background tasks end, the relay flushes, then the producer and the
pool close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer

from service.apply.processor import CommandProcessor
from service.apply.wire import Messages
from service.config import ConfigurationError, Settings
from service.consume.pipeline import Overlap, Pipeline
from service.process.metrics import Metrics
from service.publish import kafka
from service.publish.client_internals import abandon_pending_sends
from service.publish.kafka import check_login, create_producer, create_reply_producer, ensure_topics
from service.publish.relay import OutboxRelay, Retention
from service.publish.replies import ReplyCopies
from service.retry import unless_stopped, until_available
from service.storage.database import connection_refusal, create_pool, is_transient
from service.storage.migrations import MigrationError, check_schema_current, schema_refusal
from service.tracing import Tracing

log = logging.getLogger("program_builder")

CLOSE_SECONDS = 1.5
"""What a stop gives the relay's last round, the producer and the pool once the consumers have
stopped (see `Service`: SIGTERM to exit stays under 5 s even when a dependency is gone)."""
CLIENTS_CLOSE_SECONDS = 0.6
"""The part of `CLOSE_SECONDS` kept for closing the producer and the pool."""


class InFlight:
    """Counts the batches being applied (their tasks), so shutdown can wait until none is."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def hold(self, task: asyncio.Task[bool]) -> None:
        """Count `task` until it ends."""
        self._count += 1
        self._idle.clear()
        task.add_done_callback(self._ended)

    def _ended(self, _: object) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


@dataclass(frozen=True)
class Clients:
    """The connections a process holds: the database pool and the two producers."""

    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    reply_producer: AIOKafkaProducer

    @classmethod
    async def connect(cls, settings: Settings, stopping: asyncio.Event) -> Clients:
        """Wait for the broker and the database (a cluster may be coming up together), check
        the schema and start the producers. Raises `retry.Stopped` if stopped meanwhile, and
        `ConfigurationError` when a dependency refuses these settings (waiting will not help);
        whatever was opened before a failure is closed again."""
        url = settings.database_url.get_secret_value()

        async def broker_answers() -> None:
            await check_login(settings)
            await ensure_topics(settings)

        with _refusals_named(kafka.refusal):
            await until_available("broker", broker_answers, kafka.unavailable, stopping)
        with _refusals_named(lambda error: connection_refusal(error, url)):
            pool = await until_available(
                "database",
                lambda: create_pool(
                    url, settings.db_pool_size, settings.db_command_timeout_seconds
                ),
                is_transient,  # includes cannot_connect_now: a server still starting
                stopping,
            )
        clients = cls(pool, create_producer(settings), create_reply_producer(settings))
        try:
            await unless_stopped(_check_schema(pool, url), stopping)
            await unless_stopped(
                kafka.start_producer(clients.producer, settings.kafka_enable_idempotence),
                stopping,
            )
            await unless_stopped(clients.reply_producer.start(), stopping)
        except BaseException:
            await clients.reply_producer.stop()
            await clients.producer.stop()
            await _close_pool(pool, CLOSE_SECONDS)
            raise
        return clients


@dataclass
class ProcessContext:
    """What the consumer handler and the probes use while the service runs."""

    settings: Settings
    clients: Clients
    processor: CommandProcessor
    relay: OutboxRelay
    replies: ReplyCopies
    retention: Retention
    metrics: Metrics
    stopping: asyncio.Event
    in_flight: InFlight = field(default_factory=InFlight)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    pipelines: dict[int, Pipeline] = field(default_factory=dict)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.clients.pool

    def pipeline(self, member: int) -> Pipeline:
        """The batch pipeline of consumer `member` (each consumer keeps its batches in order)."""
        if member not in self.pipelines:
            self.pipelines[member] = Pipeline(
                Overlap(self.processor), self.stopping, self.in_flight
            )
        return self.pipelines[member]

    @classmethod
    async def create(
        cls, settings: Settings, metrics: Metrics, tracing: Tracing, stopping: asyncio.Event
    ) -> ProcessContext:
        """Connect, wire, start: see `Clients.connect` for what a failure to connect raises."""
        context = cls.wire(
            settings, await Clients.connect(settings, stopping), metrics, tracing, stopping
        )
        context.start()
        return context

    @classmethod
    def wire(
        cls,
        settings: Settings,
        clients: Clients,
        metrics: Metrics,
        tracing: Tracing,
        stopping: asyncio.Event,
    ) -> ProcessContext:
        """The process's objects over its clients, wired to the metrics; no I/O, no task."""
        replies = ReplyCopies(
            clients.reply_producer,
            timeout=settings.reply_timeout_seconds,
            on_sent=metrics.reply_copies_sent.inc,
            on_dropped=lambda reason: metrics.reply_copies_dropped.labels(reason).inc(),
        )
        relay = OutboxRelay(
            clients.pool,
            clients.producer,
            own_topics=frozenset(settings.topics.all()),
            replies=replies,
            on_published=metrics.published.inc,
            on_error=lambda error: metrics.publish_errors.labels(type(error).__name__).inc(),
            on_stage=metrics.stage,
            stopping=stopping,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_seconds,
            new_producer=lambda: create_producer(settings),
        )
        retention = Retention(
            clients.pool,
            outbox_seconds=settings.outbox_retention_seconds,
            inbox_seconds=settings.inbox_retention_seconds,
            interval=settings.retention_interval_seconds,
        )
        processor = CommandProcessor(
            clients.pool,
            Messages(settings.topics),
            tracing=tracing,
            publisher=relay,
            on_commit=lambda seconds: metrics.stage("transaction", seconds),
        )
        return cls(settings, clients, processor, relay, replies, retention, metrics, stopping)

    def start(self) -> None:
        """The background work: the relay's sweeps and the retention job."""
        self.tasks = [
            asyncio.create_task(self.relay.run(), name="outbox-relay"),
            asyncio.create_task(self.retention.run(self.stopping), name="retention"),
        ]

    async def aclose(self, seconds: float = CLOSE_SECONDS) -> None:
        """Called once the consumer stopped fetching: the stages below, in this order (each
        needs the ones before it done), all within about `seconds`. What the broker or the
        database cannot take by then stays in the outbox, and the next instance publishes it."""
        self.stopping.set()
        left = _Countdown(seconds)
        keep = CLIENTS_CLOSE_SECONDS  # what closing the clients needs at the end
        replies, pool = self.clients.reply_producer, self.pool
        stages: list[Callable[[], Awaitable[object]]] = [
            # the batch in flight commits (or gives up its retry), then its rows are published
            lambda: _bounded(self.in_flight.wait_idle(), left(keep)),
            lambda: _bounded(self.processor.settle(), left(keep)),
            # the relay's and the retention's tasks end, then the relay publishes what is left
            lambda: _end(self.tasks, left(keep)),
            lambda: self.relay.drain(timeout=left(keep)),
            # the reply copies in flight get what time is left before the clients close
            lambda: self.replies.aclose(grace=left(keep)),
            lambda: _stop_producer(replies, max(0.1, left(keep=0.4))),
            # the relay's producer: the one it started with, or the one that replaced it
            lambda: _stop_producer(self.relay.producer, max(0.3, left(keep=0.3))),
            lambda: _close_pool(pool, max(0.3, left())),
        ]
        for stage in stages:
            await stage()


async def _bounded(work: Awaitable[object], timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(work, timeout)


class _Countdown:
    """Seconds left until a deadline, less what is kept for later stages."""

    def __init__(self, seconds: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + seconds

    def __call__(self, keep: float = 0.0) -> float:
        return max(0.0, self.deadline - keep - self.loop.time())


async def _end(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Let the tasks end by themselves (they watch the stop) for `timeout`, then cancel them."""
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def _refusals_named(
    refusal: Callable[[BaseException], ConfigurationError | None],
) -> Iterator[None]:
    """Raise a dependency's refusal of the settings as the `ConfigurationError` naming them."""
    try:
        yield
    except Exception as error:
        refused = refusal(error)
        if refused is None:
            raise
        raise refused from error


async def _check_schema(pool: asyncpg.Pool, url: str) -> None:
    with _refusals_named(lambda error: connection_refusal(error, url)):
        async with pool.acquire() as connection:
            try:
                await check_schema_current(connection)
            except MigrationError as error:
                raise schema_refusal(error, url) from error


async def _stop_producer(producer: AIOKafkaProducer, timeout: float) -> None:
    """Stop the producer; if the broker has not taken its last batches within `timeout` (it is
    unreachable), drop them: their outbox rows were not marked sent, so nothing is lost."""
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait((stopping,), timeout=timeout)
    if not done:
        log.warning(
            "the broker did not take the last messages within %.1f s; dropping them", timeout
        )
        abandon_pending_sends(producer)
    await stopping


async def _close_pool(pool: asyncpg.Pool, timeout: float) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        log.warning("database connections still busy after %.1f s; closing them", timeout)
        pool.terminate()
