"""What a batch's transaction does at its end and right after its commit: with a publisher, it
claims the outbox lanes of the rows it wrote (in the transaction), and once committed its rows
are published on its own connection, in the background, while the next batch is applied.

`CommandProcessor` calls `claim` before committing and `committed` after; `settle` waits for the
publish of the last committed batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import asyncpg

from service.storage import outbox
from service.storage.database import Connection
from service.storage.outbox import OutgoingMessage

log = logging.getLogger("program_builder.commands")


class Publisher(Protocol):
    async def publish_committed(
        self, connection: Connection, claim: outbox.LaneClaim, committed_at: float
    ) -> None:
        """Publish a committed transaction's claimed rows on its connection; never raises."""


class AfterCommit:
    """Owns the connection of the last committed batch until its rows are published: the
    connection holds their lanes (a session lock) until then, and goes back to the pool after.
    Without a publisher (the relay publishes everything), a committed connection goes straight
    back to the pool."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher | None,
        on_commit: Callable[[float], None],
    ) -> None:
        self.pool = pool
        self.publisher = publisher
        self.on_commit = on_commit
        self._publishing: asyncio.Task[None] | None = None

    async def claim(
        self, connection: Connection, messages: Sequence[OutgoingMessage]
    ) -> outbox.LaneClaim | None:
        """With a publisher, at the end of the transaction: the lanes of the rows it wrote."""
        if self.publisher is None:
            return None
        # The previous batch's rows out first: its lanes are then free, and a key's rows leave
        # in commit order.
        await self.settle()
        return await outbox.claim_lanes(connection, messages)

    async def committed(
        self,
        connection: asyncpg.pool.PoolConnectionProxy,
        claim: outbox.LaneClaim | None,
        started: float,
    ) -> None:
        """After a commit (`started` when its transaction began): publish what the transaction
        claimed on its connection (in the background), or give the connection back."""
        committed = time.perf_counter()
        self.on_commit(committed - started)
        if claim is None or self.publisher is None:
            await self.pool.release(connection)
        else:
            self._publish(self.publisher, connection, claim, committed)

    def _publish(
        self,
        publisher: Publisher,
        connection: asyncpg.pool.PoolConnectionProxy,
        claim: outbox.LaneClaim,
        committed: float,
    ) -> None:
        """Publish `claim` on `connection` in the background, then give the connection back."""

        async def publish_then_release() -> None:
            try:
                await publisher.publish_committed(connection, claim, committed)
            finally:
                try:
                    await self.pool.release(connection)
                except Exception as error:  # a broken connection: the pool replaces it
                    log.warning("releasing the publishing connection failed: %s", error)

        self._publishing = asyncio.create_task(publish_then_release())

    async def settle(self) -> None:
        """Until what the last batch committed is published (or handed to the relay). Never
        raises; cancelling the wait leaves the publish running."""
        if self._publishing is not None and not self._publishing.done():
            await asyncio.wait({self._publishing})
