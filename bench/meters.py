"""What the bench reads off the running service: its stage histograms, CPU time and peak RSS,
the broker's CPU, and a py-spy profile."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.support.process import ServiceProcess

Histograms = dict[str, tuple[float, float, list[tuple[float, float]]]]


def scrape_stages(url: str) -> Histograms:
    """The service's `program_builder_stage_seconds` histograms: stage -> (sum, count, buckets)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    stages: Histograms = {}
    for family in text_string_to_metric_families(text):
        if family.name != "program_builder_stage_seconds":
            continue
        for sample in family.samples:
            stage = sample.labels["stage"]
            total, count, buckets = stages.get(stage, (0.0, 0.0, []))
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_bucket"):
                buckets = [*buckets, (float(sample.labels["le"]), sample.value)]
            stages[stage] = (total, count, buckets)
    return stages


def stage_summary(before: Histograms, after: Histograms) -> dict[str, dict[str, float]]:
    """Per stage, over the interval between two scrapes: count, mean and the bucket bound
    under which half and 99 % of the observations fell."""
    summary = {}
    for stage, (total, count, buckets) in after.items():
        total0, count0, buckets0 = before.get(stage, (0.0, 0.0, []))
        n = count - count0
        if n <= 0:
            continue
        earlier = dict(buckets0)
        cumulative = [(bound, value - earlier.get(bound, 0.0)) for bound, value in buckets]

        def bound_of(
            q: float, cumulative: list[tuple[float, float]] = cumulative, n: float = n
        ) -> float:
            return next(bound for bound, seen in cumulative if seen >= q * n)

        summary[stage] = {
            "count": int(n),
            "mean_ms": round((total - total0) / n * 1000, 2),
            "p50_under_ms": round(bound_of(0.5) * 1000, 2),
            "p99_under_ms": round(bound_of(0.99) * 1000, 2),
        }
    return summary


class CpuMeter:
    """CPU seconds used by each process of the run (this driver, the service, the broker and
    PostgreSQL with its backends): what the two cores of this box are shared between."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.roots = {name: psutil.Process(pid) for name, pid in pids.items() if pid}

    def sample(self) -> dict[str, float]:
        used = {}
        for name, root in self.roots.items():
            total = 0.0
            # PostgreSQL's backends are the postmaster's children; the driver's children are
            # the other processes measured here.
            family = root.children(recursive=True) if name == "postgres" else []
            for process in (root, *family):
                try:
                    times = process.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            used[name] = total
        return used

    @staticmethod
    def percent(before: dict[str, float], after: dict[str, float], seconds: float) -> dict:
        return {name: round((after[name] - before[name]) / seconds * 100) for name in after}


def postmaster_pid(port: int) -> int | None:
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return connection.pid
    return None


async def _py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (raw folded stacks) until it gets SIGINT."""
    profiler = subprocess.Popen(  # noqa: ASYNC220 - spawning does not block
        [
            # The bench extra installs it next to this interpreter.
            shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(1)
    return profiler


@asynccontextmanager
async def py_spy(pid: int, output: Path, *, enabled: bool = True) -> AsyncIterator[None]:
    """py-spy records `pid` into `output` while the block runs (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    profiler = await _py_spy(pid, output)
    try:
        yield
    finally:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)


@dataclass
class SampledService(ServiceProcess):
    """The service process, sampled for CPU time and peak RSS while it runs."""

    peak_rss: int = 0
    handle: psutil.Process | None = None
    sampler: asyncio.Task[None] | None = None

    def start(self) -> None:
        super().start()
        assert self.process is not None
        self.handle = psutil.Process(self.process.pid)
        self.sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        assert self.handle is not None
        while True:
            self.peak_rss = max(self.peak_rss, self.handle.memory_info().rss)
            await asyncio.sleep(0.2)

    def cpu_seconds(self) -> float:
        assert self.handle is not None
        times = self.handle.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        assert self.handle is not None
        return int(self.handle.memory_info().rss)

    def finish(self) -> None:
        if self.sampler is not None:
            self.sampler.cancel()
        self.terminate()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": at(0.5),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }
