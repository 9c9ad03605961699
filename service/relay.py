"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

Woken by LISTEN/NOTIFY on each commit that wrote rows, and by a polling fallback. Each round
claims free lanes (advisory locks) and their oldest rows (FOR UPDATE SKIP LOCKED) in one
transaction, publishes them in id order, waits for the broker's acks, and marks them sent in the
same transaction, so rows are published at least once and, per key, in commit order. A failed
publish rolls back the claim; the rows are retried after a backoff with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from service.retry import Backoff, Stopped, unless_stopped
from service.storage import inbox, outbox
from service.storage.database import is_transient

log = logging.getLogger("program_builder.relay")

NOTIFY_CHANNEL = "program_builder_outbox"

ROUND_GRACE_SECONDS = 1.0
"""How long a relay round in progress at a stop may still wait for the broker's acks."""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        required_topics: frozenset[str] | None = None,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        on_published: Callable[[int], None] = lambda count: None,
        on_error: Callable[[BaseException], None] = lambda error: None,
        on_stage: Callable[[str, float], None] = lambda stage, seconds: None,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.required_topics = required_topics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_published = on_published
        self.on_error = on_error
        self.on_stage = on_stage
        self._wake = asyncio.Event()
        self._committed_at: float | None = None

    def wake(self, committed_at: float | None = None) -> None:
        """Start a round now: rows were committed (at `committed_at`, a `perf_counter` time,
        when this process committed them: the round then reports the wait as `relay_wake`)."""
        if committed_at is not None and self._committed_at is None:
            self._committed_at = committed_at
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until `stopping` is set, then return (call `drain` to flush what is left).

        A round in progress at the stop gets `ROUND_GRACE_SECONDS` to finish; a broker that
        does not answer would otherwise hold it for the producer's request timeout. A round
        cut short rolls back its claim: its rows stay unsent, for `drain` or the next instance."""
        listener = asyncio.create_task(self._listen(stopping))
        waits = Backoff(stopping, base=0.1, cap=10.0)
        try:
            while not stopping.is_set():
                # Cleared before the round, not after: rows committed (and their wake-ups) while
                # a round runs must start the next round at once, not wait for the poll.
                self._wake.clear()
                try:
                    count = await unless_stopped(
                        self.relay_once(), stopping, grace=ROUND_GRACE_SECONDS
                    )
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
                waits.reset()
                if count < self.batch_size:
                    await _wait_any(self._wake, stopping, self.poll_interval)
        finally:
            # The listener ends by itself once `stopping` is set; cancelling it mid-release
            # would leak its pooled connection and hang the pool's close.
            try:
                await asyncio.wait_for(asyncio.shield(listener), 5)
            except (TimeoutError, asyncio.CancelledError):
                listener.cancel()

    async def relay_once(self) -> int:
        started = time.perf_counter()
        if self._committed_at is not None:
            self.on_stage("relay_wake", started - self._committed_at)
            self._committed_at = None
        async with self.pool.acquire() as connection, connection.transaction():
            claimed = await outbox.claim(connection, self.batch_size)
            if not claimed:
                return 0
            sends = [
                await self.producer.send(
                    item.message.topic,
                    value=item.message.value,
                    key=item.message.key,
                    headers=list(item.message.headers),
                )
                for item in claimed
            ]
            outcomes = await asyncio.gather(*sends, return_exceptions=True)
            self._check(claimed, outcomes)
            acked = time.perf_counter()
            self.on_stage("publish", acked - started)
            await outbox.mark_sent(connection, [item.id for item in claimed])
        self.on_stage("mark_sent", time.perf_counter() - acked)
        self.on_published(len(claimed))
        return len(claimed)

    def _check(self, claimed: list[outbox.ClaimedMessage], outcomes: list[object]) -> None:
        """Raise if a contract topic's message failed (the claim rolls back and is retried).

        A copy for a requester's `reply-to` topic is best effort: when it alone fails (the
        topic is invalid, not authorised, gone) while the broker took everything else, it is
        dropped with a warning instead of holding back every message behind it. Its result is
        on the results topic regardless."""
        failed = [
            (item, error)
            for item, error in zip(claimed, outcomes, strict=True)
            if isinstance(error, BaseException)
        ]
        if not failed:
            return
        required = self.required_topics
        for item, error in failed:
            if required is None or item.message.topic in required:
                raise error
        for item, error in failed:
            log.warning(
                "dropping the reply-to copy for topic %r after %s: %s",
                item.message.topic,
                type(error).__name__,
                error,
            )

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

    async def _listen(self, stopping: asyncio.Event) -> None:
        """Hold a LISTEN connection; reconnect with backoff (polling covers the gaps)."""
        waits = Backoff(stopping, base=0.2, cap=10.0)
        while not stopping.is_set():
            try:
                connection = await self.pool.acquire()
            except Exception as error:
                log.debug("LISTEN connection failed: %s", error)
                try:
                    await waits.wait(waits.next_delay())
                except Stopped:
                    return
                continue
            lost = asyncio.Event()

            def on_notify(*_: object) -> None:
                self._wake.set()

            try:
                connection.add_termination_listener(lambda _: lost.set())  # noqa: B023
                await connection.add_listener(NOTIFY_CHANNEL, on_notify)
                waits.reset()
                await _wait_any(lost, stopping, None)
            except Exception as error:
                log.debug("LISTEN failed: %s", error)
                with contextlib.suppress(Stopped):
                    await waits.wait(waits.next_delay())
            finally:
                with contextlib.suppress(Exception):
                    await connection.remove_listener(NOTIFY_CHANNEL, on_notify)
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.pool.release(connection, timeout=2))


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


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float | None) -> None:
    waiters = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
