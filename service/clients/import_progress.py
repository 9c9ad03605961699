"""The bulk import's progress on standard error: rich's progress bar on a terminal (done/total,
rate, time left, rejected so far), otherwise a plain line every `PLAIN_INTERVAL_SECONDS`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

if TYPE_CHECKING:
    from service.clients.import_file import Tally

PLAIN_INTERVAL_SECONDS = 5.0


class Run(Protocol):
    """What progress is read from (the importer)."""

    @property
    def tally(self) -> Tally: ...

    @property
    def waiting(self) -> int: ...


class Progress(Protocol):
    def update(self, run: Run) -> None: ...

    def finish(self, run: Run) -> None:
        """The last state, shown whatever the time since the previous update."""

    def note(self, text: str) -> None:
        """A line of its own (a stop signal received, say)."""


class BarProgress:
    """rich's live bar; refreshed by rich's own thread, fed counts from the event loop."""

    def __init__(self, total: int | None, console: Console) -> None:
        self.bar = RichProgress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left,"),
            TextColumn("[red]{task.fields[rejected]} rejected[/], {task.fields[waiting]} waiting"),
            console=console,
            transient=False,
        )
        self.task: TaskID = self.bar.add_task(
            "import", total=total, rate="0", rejected=0, waiting=0
        )
        self.started = time.monotonic()

    def update(self, run: Run) -> None:
        done = run.tally.done
        seconds = max(time.monotonic() - self.started, 1e-6)
        self.bar.update(
            self.task,
            completed=done,
            rate=f"{done / seconds:.0f}",
            rejected=run.tally.failed,
            waiting=run.waiting,
        )

    def finish(self, run: Run) -> None:
        self.update(run)

    def note(self, text: str) -> None:
        self.bar.console.print(text)


class PlainProgress:
    """A line every few seconds, for logs and pipes (nothing redrawn)."""

    def __init__(self, total: int | None, stream: IO[str], interval: float) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.started = self.last = time.monotonic()

    def update(self, run: Run) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.stream.write(self.line(run, now) + "\n")
            self.stream.flush()

    def finish(self, run: Run) -> None:
        self.stream.write(self.line(run, time.monotonic()) + "\n")
        self.stream.flush()

    def line(self, run: Run, now: float) -> str:
        tally = run.tally
        done = tally.done
        rate = done / max(now - self.started, 1e-6)
        of = f"/{self.total} lines ({done / self.total:.1%})" if self.total else " lines"
        left = ""
        if self.total and rate > 0 and done < self.total:
            left = f", about {_duration((self.total - done) / rate)} left"
        return (
            f"import: {done}{of}, {rate:.0f}/s, {sum(tally.rejected.values())} rejected, "
            f"{tally.unreadable} unreadable, {run.waiting} waiting{left}"
        )

    def note(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@contextmanager
def progress_for(
    total: int | None, *, terminal: bool | None = None, interval: float = PLAIN_INTERVAL_SECONDS
) -> Iterator[Progress]:
    """The bar when standard error is a terminal (or `terminal` says so), else plain lines."""
    if terminal is None:
        terminal = sys.stderr.isatty()
    if not terminal:
        yield PlainProgress(total, sys.stderr, interval)
        return
    bar = BarProgress(total, Console(file=sys.stderr))
    with bar.bar:
        yield bar
