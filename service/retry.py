"""Waiting for a dependency that is not there yet: capped exponential backoff with full jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("program_builder.retry")


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, …): up to base·2^attempt, capped,
    with jitter so that instances restarted together do not retry in lockstep. Every jittered
    retry of the service (startup, batches, relay) waits by this."""
    return min(cap, base * (1 << min(attempt, 16))) * random.uniform(0.5, 1.0)


async def until_available(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    transient: Callable[[BaseException], bool],
) -> T:
    """Run `attempt` until it succeeds; errors that `transient` does not accept are raised."""
    failures = 0
    while True:
        try:
            return await attempt()
        except Exception as error:
            if not transient(error):
                raise
            failures += 1
            delay = backoff(failures)
            log.warning(
                "%s not available (%s: %s); retry %d in %.1f s",
                what,
                type(error).__name__,
                str(error)[:200],
                failures,
                delay,
            )
            await asyncio.sleep(delay)
