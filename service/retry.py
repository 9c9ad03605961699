"""Retrying what depends on the broker or the database: one jittered backoff that a stop ends.

Every retry loop of the service (the startup waits and the batch retry through
`until_available`, the relay's rounds through `Backoff`) answers SIGTERM within the same bound,
and instances restarted together do not retry in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("program_builder.retry")


class Stopped(Exception):
    """The service was asked to stop while this work waited to be retried."""


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, …): up to base·2^attempt, capped,
    with full jitter over the upper half."""
    return min(cap, base * (1 << min(attempt, 16))) * random.uniform(0.5, 1.0)


class Backoff:
    """The waits of one retry loop: growing after each failure, reset by a success, and cut
    short by `stopping` (then `Stopped` is raised)."""

    def __init__(self, stopping: asyncio.Event, *, base: float = 0.2, cap: float = 5.0) -> None:
        self.stopping = stopping
        self.base = base
        self.cap = cap
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return backoff(self.failures, self.base, self.cap)

    async def wait(self, delay: float) -> None:
        """Sleep `delay` seconds unless stopping is (or becomes) set: then raise `Stopped`."""
        if self.stopping.is_set():
            raise Stopped
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        if self.stopping.is_set():
            raise Stopped


async def unless_stopped(work: Awaitable[T], stopping: asyncio.Event, *, grace: float = 0.0) -> T:
    """Await `work`; once `stopping` is set, give it `grace` more seconds, then cancel it and
    raise `Stopped` (its `finally` blocks run: a transaction rolls back, a connection closes)."""
    if stopping.is_set() and grace <= 0:
        if asyncio.iscoroutine(work):
            work.close()
        raise Stopped
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and grace > 0:
            await asyncio.wait((task,), timeout=grace)
    finally:
        stop.cancel()
        if not task.done():  # stopped, or this wait itself was cancelled
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise Stopped
    return task.result()


async def until_available(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    transient: Callable[[BaseException], bool],
    stopping: asyncio.Event,
    *,
    base: float = 0.2,
    cap: float = 5.0,
    interrupt: bool = True,
) -> T:
    """Run `attempt` until it succeeds. Errors `transient` does not accept are raised; a stop
    raises `Stopped`: in the middle of an attempt too, unless `interrupt` is false (a batch in
    flight finishes its transaction; only the waits between attempts are cut short)."""
    waits = Backoff(stopping, base=base, cap=cap)
    while True:
        try:
            return await (unless_stopped(attempt(), stopping) if interrupt else attempt())
        except Stopped:
            raise
        except Exception as error:
            if not transient(error):
                raise
            delay = waits.next_delay()
            log.warning(
                "%s not available (%s: %s); retry %d in %.1f s",
                what,
                type(error).__name__,
                str(error)[:200],
                waits.failures,
                delay,
            )
            await waits.wait(delay)
