"""Waiting for a condition with a deadline: `wait_until` polls it and raises `NotYet` when the
time runs out (a test failure, and the one exception a caller catches to say more)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class NotYet(AssertionError):
    """The condition `wait_until` waited for did not hold in time (an AssertionError, so an
    uncaught one reads as the test's failure)."""


async def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `predicate` every 0.1 s until it is true; `NotYet` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise NotYet(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)
