"""The one backoff every retry loop waits by: a stop ends any wait at once, and work cut short
by a stop is cancelled (its `finally` blocks run), after a grace when one is given."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.retry import Backoff, Stopped, backoff, unless_stopped, until_available


def test_backoff_grows_jittered_and_capped() -> None:
    for attempt in range(1, 30):
        delay = backoff(attempt, base=0.2, cap=5.0)
        ceiling = min(5.0, 0.2 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


async def test_a_stop_ends_a_backoff_wait_at_once() -> None:
    stopping = asyncio.Event()
    waits = Backoff(stopping)
    asyncio.get_running_loop().call_later(0.05, stopping.set)
    started = time.monotonic()
    with pytest.raises(Stopped):
        await waits.wait(30)
    assert time.monotonic() - started < 1
    with pytest.raises(Stopped):  # and once stopped, no wait begins
        await waits.wait(30)


async def test_until_available_retries_what_may_pass_and_raises_the_rest() -> None:
    stopping = asyncio.Event()
    attempts: list[int] = []

    async def attempt() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError
        return "up"

    def transient(error: BaseException) -> bool:
        return isinstance(error, OSError)

    assert await until_available("thing", attempt, transient, stopping, base=0.001) == "up"
    assert len(attempts) == 3

    async def refused() -> str:
        raise PermissionError("no")

    with pytest.raises(PermissionError):
        await until_available("thing", refused, lambda e: False, stopping)


async def test_until_available_stops_in_its_backoff() -> None:
    stopping = asyncio.Event()

    async def down() -> None:
        raise ConnectionRefusedError

    asyncio.get_running_loop().call_later(0.2, stopping.set)
    started = time.monotonic()
    with pytest.raises(Stopped):
        await until_available("thing", down, lambda e: True, stopping, base=10, cap=10)
    assert time.monotonic() - started < 1


async def test_unless_stopped_cancels_the_work_and_its_finally_runs() -> None:
    stopping = asyncio.Event()
    cleaned = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()

    asyncio.get_running_loop().call_later(0.05, stopping.set)
    with pytest.raises(Stopped):
        await unless_stopped(work(), stopping)
    assert cleaned.is_set()


async def test_unless_stopped_with_grace_lets_quick_work_finish() -> None:
    stopping = asyncio.Event()

    async def work(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    stopping.set()
    assert await unless_stopped(work(0.05), stopping, grace=1) == "done"
    started = time.monotonic()
    with pytest.raises(Stopped):
        await unless_stopped(work(30), stopping, grace=0.1)
    assert time.monotonic() - started < 1
