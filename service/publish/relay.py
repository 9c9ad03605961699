"""Publishing the outbox: at commit by the process that committed, and by the relay's sweeps.

`publish_committed` is the fast path: the batch transaction took the lanes of its rows (see
`storage.outbox`), and right after its commit the rows are sent, acknowledged by the broker and
marked sent on the same connection, which then frees the lanes. No extra transaction, no wake-up.

The relay is the sweeper for everything else: rows whose lanes another holder had at commit,
rows of a process that crashed between commit and publish, rows whose publish failed. Each round
claims free lanes (transaction advisory locks) and their oldest rows (FOR UPDATE SKIP LOCKED) in
one transaction, publishes them in id order, waits for the broker's acks and marks them sent in
the same transaction. It runs when the process hands it rows, and polls for the rest. Either
way rows are published at least once and, per key, in commit order; a failed publish leaves them
unsent, to be retried after a backoff with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber, UnknownProducerId

from service.publish.kafka import send_batched
from service.publish.replies import ReplyCopies
from service.retry import Backoff, Stopped, unless_stopped
from service.storage import inbox, outbox
from service.storage.database import Connection, is_transient

log = logging.getLogger("program_builder.relay")

ROUND_GRACE_SECONDS = 1.0
"""How long a relay round in progress at a stop may still wait for the broker's acks."""

CHASE_SECONDS = 0.005
LOST_PRODUCER_STATE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)
"""Send failures after which the idempotent producer's id and sequence numbers are of no use:
only a new producer gets through (see `OutboxRelay._renew`)."""

T = TypeVar("T")

STUCK_SECONDS = 45.0
"""How long one round's sends may wait for the broker's acks. The producer's own requests end
within 15 s (`request_timeout_ms`), so a round still waiting after three times that is held by a
producer that will never answer: after a cluster restart, a renewed idempotent producer was seen
to take every send and settle none, for minutes. Such a producer is replaced, as a lost one."""


class ProducerStuck(Exception):
    """A round's sends were neither acknowledged nor refused within `STUCK_SECONDS`."""


CHASE_ROUNDS = 40
"""Rows handed to the relay whose lanes another holder had are tried again every CHASE_SECONDS
(that holder frees them within milliseconds), up to CHASE_ROUNDS times while any row is unsent;
past that, the poll finds them."""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        own_topics: frozenset[str] | None = None,
        replies: ReplyCopies | None = None,
        batch_size: int = 5000,
        poll_interval: float = 1.0,
        on_published: Callable[[int], None] = lambda count: None,
        on_error: Callable[[BaseException], None] = lambda error: None,
        on_stage: Callable[[str, float], None] = lambda stage, seconds: None,
        stopping: asyncio.Event | None = None,
        new_producer: Callable[[], AIOKafkaProducer] | None = None,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.new_producer = new_producer
        self._renewing = asyncio.Lock()
        self.own_topics = own_topics
        self.replies = replies
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_published = on_published
        self.on_error = on_error
        self.on_stage = on_stage
        self.stopping = stopping or asyncio.Event()
        self._wake = asyncio.Event()
        self._committed_at: float | None = None
        self._chases = 0

    def wake(self, committed_at: float | None = None) -> None:
        """Start a round now for rows committed but not published at commit (at `committed_at`,
        a `perf_counter` time: the round then reports the wait as `relay_wake`). Until they are
        out, rounds that find their lanes taken are repeated every `CHASE_SECONDS`."""
        if committed_at is not None and self._committed_at is None:
            self._committed_at = committed_at
        self._chases = CHASE_ROUNDS
        self._wake.set()

    async def publish_committed(
        self, connection: Connection, claim: outbox.LaneClaim, committed_at: float
    ) -> None:
        """Publish the rows of `claim` right after the commit of the transaction that took it,
        on its connection, and free its lanes. Never raises: the transaction is committed, and
        what could not be published stays unsent for the relay."""
        if claim.declined:
            self.wake(committed_at)
        if not claim.messages:
            return
        published = 0
        try:
            # In rounds of `batch_size`, each acknowledged and marked before the next.
            for start in range(0, len(claim.messages), self.batch_size):
                chunk = claim.messages[start : start + self.batch_size]
                await unless_stopped(self._send(chunk), self.stopping, grace=ROUND_GRACE_SECONDS)
                acked = time.perf_counter()
                if start == 0:
                    self.on_stage("publish", acked - committed_at)
                ids = [item.id for item in chunk]
                if start + self.batch_size >= len(claim.messages):
                    await outbox.mark_sent_and_release(connection, ids, claim.lanes)
                else:
                    await outbox.mark_sent(connection, ids)
                self.on_stage("mark_sent", time.perf_counter() - acked)
                published += len(chunk)
                self.on_published(len(chunk))
        except Exception as error:  # Stopped included: the rest stays for the relay's drain
            if not isinstance(error, Stopped):
                self.on_error(error)
                log.warning(
                    "publishing at commit failed after %d of %d rows (%s: %s): the relay "
                    "publishes the rest",
                    published,
                    len(claim.messages),
                    type(error).__name__,
                    error,
                )
            with contextlib.suppress(Exception):
                await outbox.release(connection, claim.lanes)
            self.wake(committed_at)

    async def run(self) -> None:
        """Relay until `self.stopping` is set, then return (call `drain` to flush what is left).

        A round in progress at the stop gets `ROUND_GRACE_SECONDS` to finish; a broker that
        does not answer would otherwise hold it for the producer's request timeout. A round
        cut short rolls back its claim: its rows stay unsent, for `drain` or the next instance."""
        stopping = self.stopping
        waits = Backoff(stopping, base=0.1, cap=10.0)
        while not stopping.is_set():
            # Cleared before the round, not after: rows handed over while a round runs must
            # start the next round at once, not wait for the poll.
            self._wake.clear()
            try:
                count = await unless_stopped(self.relay_once(), stopping, grace=ROUND_GRACE_SECONDS)
                waits.reset()
                if count < self.batch_size and self._chases > 0:
                    # Rows were handed over whose lanes may still be taken: try again shortly
                    # while any row is unsent.
                    self._chases -= 1
                    if await self._unsent():
                        await _wait_any(self._wake, stopping, CHASE_SECONDS)
                        continue
                    self._chases = 0
            except Stopped:
                return
            except Exception as error:
                self.on_error(error)
                delay = waits.next_delay()
                log.warning(
                    "relay failed (%s: %s), retrying in %.2f s",
                    type(error).__name__,
                    error,
                    delay,
                )
                try:
                    await waits.wait(delay)
                except Stopped:
                    return
                continue
            if count < self.batch_size:
                await _wait_any(self._wake, stopping, self.poll_interval)

    async def _unsent(self) -> bool:
        async with self.pool.acquire() as connection:
            return await outbox.any_unsent(connection)

    async def relay_once(self) -> int:
        started = time.perf_counter()
        if self._committed_at is not None:
            self.on_stage("relay_wake", started - self._committed_at)
            self._committed_at = None
        async with self.pool.acquire() as connection, connection.transaction():
            claimed = await outbox.claim(connection, self.batch_size)
            if not claimed:
                return 0
            await self._send(claimed)
            await outbox.mark_sent(connection, [item.id for item in claimed])
        self.on_stage("sweep", time.perf_counter() - started)
        self.on_published(len(claimed))
        return len(claimed)

    async def _send(self, claimed: list[outbox.ClaimedMessage]) -> None:
        """Send in id order (the producer keeps each partition's order) and wait for the acks;
        raise if any failed (the caller leaves them all unsent, to be retried).

        Copies for requesters' `reply-to` topics are not waited for: once the broker has taken
        everything else, they are handed to `replies`, which sends them apart and drops what
        fails within its bound, so the round (and the lanes it holds) never waits for a topic
        that a requester chose. Without `replies`, every row is sent and waited for."""
        if self.replies is None or self.own_topics is None:
            required, copies = claimed, []
        else:
            required = [item for item in claimed if item.message.topic in self.own_topics]
            copies = [item.message for item in claimed if item.message.topic not in self.own_topics]
        producer = self.producer

        async def sent() -> list[Any]:
            sends = await send_batched(producer, [item.message for item in required])
            return await asyncio.gather(*sends, return_exceptions=True)

        try:
            outcomes = await _within(STUCK_SECONDS, sent())
        except TimeoutError:
            stuck = ProducerStuck(
                f"{len(required)} messages neither acknowledged nor refused in {STUCK_SECONDS:g} s"
            )
            await self._renew(producer, stuck)
            raise stuck from None
        for outcome in outcomes:
            if isinstance(outcome, LOST_PRODUCER_STATE):
                await self._renew(producer, outcome)
            if isinstance(outcome, BaseException):
                raise outcome
        if copies and self.replies is not None:
            self.replies.send(copies)

    async def _renew(self, failed: AIOKafkaProducer, error: BaseException) -> None:
        """Replace the idempotent producer whose sequence state the broker no longer shares (a
        cluster restarted uncleanly forgets a producer's last sequence numbers; aiokafka, unlike
        the Java client, keeps sending with them and every send fails the same way). The rows
        stay unsent and go out again through the new producer id: some may be on the topic
        already, so consumers may see a replay, never a gap or a reordering."""
        if self.new_producer is None:
            return
        async with self._renewing:
            if self.producer is not failed:
                return  # another round already renewed it
            log.warning(
                "the producer is of no more use (%s: %s): starting a new one; what it had not "
                "confirmed is sent again",
                type(error).__name__,
                error,
            )
            renewed = self.new_producer()
            try:
                await _within(STUCK_SECONDS, renewed.start())
            except BaseException:
                with contextlib.suppress(Exception):
                    await _within(5, renewed.stop())
                raise  # the rows stay unsent; the next round renews again
            self.producer = renewed
        with contextlib.suppress(Exception):
            await _within(5, failed.stop())

    async def drain(self, timeout: float) -> None:
        """Publish what is pending (at shutdown), for at most `timeout` seconds; a round still
        waiting for the broker then is rolled back (its rows stay for the next instance)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.relay_once() > 0:
                    pass
        except TimeoutError:
            log.warning(
                "outbox not drained within %.1f s: the rest stays for the next instance", timeout
            )
        except Exception as error:
            log.warning("could not drain the outbox: %s", error)


class Retention:
    """Prunes sent outbox rows and old inbox rows in chunks, so both tables stay bounded."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        outbox_seconds: float,
        inbox_seconds: float,
        interval: float,
        chunk: int = 5000,
    ) -> None:
        self.pool = pool
        self.outbox_seconds = outbox_seconds
        self.inbox_seconds = inbox_seconds
        self.interval = interval
        self.chunk = chunk

    async def prune_once(self) -> tuple[int, int]:
        pruned_outbox = pruned_inbox = 0
        async with self.pool.acquire() as connection:
            while (count := await outbox.prune(connection, self.outbox_seconds, self.chunk)) > 0:
                pruned_outbox += count
            while (count := await inbox.prune(connection, self.inbox_seconds, self.chunk)) > 0:
                pruned_inbox += count
        return pruned_outbox, pruned_inbox

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                pruned = await self.prune_once()
                if any(pruned):
                    log.info("retention pruned %d outbox and %d inbox rows", *pruned)
            except Exception as error:
                level = logging.WARNING if is_transient(error) else logging.ERROR
                log.log(level, "retention failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)


async def _within(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result, or `TimeoutError` after `seconds`, whether or not `work` honours its
    cancellation: `asyncio.timeout` and `wait_for` wait for the cancelled work to finish, and a
    client that swallows the cancellation (seen after a cluster restart: a renewed producer's
    round never ended, and results stopped for minutes) would hold the relay for good. Work
    still running is cancelled and left behind; so it is when the caller is cancelled."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except BaseException:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError
    return task.result()


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float | None) -> None:
    waiters = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
