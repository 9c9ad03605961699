"""SIGTERM and SIGINT, which mean one thing at every moment of the process's life: stop cleanly.

While the service runs they set its stop event, and the drain follows; while `migrate` runs they
cancel it (its transaction rolls back, its connection closes); in synchronous phases (the local
stack starting) they unwind like Ctrl-C, so what was started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import TypeVar

log = logging.getLogger("program_builder")

T = TypeVar("T")

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """SIGTERM and SIGINT, routed to whatever the process is doing when they arrive.

    The first one stops; later ones are ignored while that stop runs (it is bounded), so a
    second Ctrl-C cannot interrupt the cleanup of the first. Outside an event loop the first
    raises `KeyboardInterrupt`; inside one (`routed`), it calls the given callback from the loop.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> None:
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._interrupt)

    def ignore_further(self) -> None:
        """The process is on its way out (its cleanup must not be interrupted)."""
        self.received = self.received or signal.SIGTERM

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def routed(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], object]) -> Iterator[None]:
        """While the block runs, the first signal calls `stop` on `loop` (the loop's own signal
        handling wakes it at once); the synchronous handlers are back afterwards."""

        def on_signal(sig: signal.Signals) -> None:
            if self.received is not None:
                log.info("%s received while stopping: ignored", sig.name)
                return
            self.received = sig
            log.info("%s received: stopping", sig.name)
            stop()

        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            yield
        finally:
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)
            self.install()


SIGNALS = StopSignals()


def run_cancellable(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` in an event loop of its own; a stop signal cancels it, so its `finally`
    blocks run (transactions roll back, connections close), then `KeyboardInterrupt` is raised."""

    async def cancellable() -> T:
        task = asyncio.current_task()
        assert task is not None
        with SIGNALS.routed(asyncio.get_running_loop(), task.cancel):
            return await work()

    try:
        return asyncio.run(cancellable())
    except asyncio.CancelledError:
        if SIGNALS.received is None:
            raise
        raise KeyboardInterrupt from None
