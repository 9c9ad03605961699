"""Benchmark: the service in its own process, driven through Kafka from this one.

Measures, end to end (command produced → result consumed, and → prescription-updated consumed):
sustained throughput in a closed loop, and latency percentiles at fixed offered rates in an open
loop (timed from each command's *scheduled* send time, so a stalled service cannot hide its
queueing: no coordinated omission). Reports the service's CPU time per command and peak RSS, and
pgbench TPC-B on the same PostgreSQL as a reference, so results read as a ratio across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tqdm import tqdm

from contracts.topics import Topics
from service.embedded import EmbeddedStack
from service.entrypoints.client import ServiceClient, partitions_of
from service.metrics import STAGES
from tests.support.legacy import import_line, prescriptions_of
from tests.support.process import SCRIPT, ServiceProcess, service_env

RESULTS = Path(__file__).resolve().parent / "results"
# Ratios measured in the same run, not absolute times: this box is shared and noisy.
TARGETS = {
    "series_vs_pgbench_tps": (">=", 1.2),
    "editor_vs_pgbench_tps": (">=", 1.0),
    "p50_at_500_vs_floor": ("<=", 1.5),
    "p99_at_500_vs_floor": ("<=", 2.0),
    "peak_rss_mb": ("<=", 200.0),
    "import_prescriptions_vs_pgbench_tps": (">=", 2.0),
}


@dataclass
class Program:
    id: str
    session: str
    exercises: list[str]


class Driver(ServiceClient):
    """Produces commands and matches results/events back to them, timestamped on arrival."""

    def __init__(self, bootstrap: str, topics: Topics, tenant: str = "bench") -> None:
        super().__init__(
            topics,
            {"bootstrap_servers": bootstrap},
            tenant_id=tenant,
            follow=[topics.command_results, topics.prescription_updated],
            producer=PRODUCER,
            consumer=CONSUMER,
            poll=POLL,
            topic_timeout=120,
        )
        self.sent_at: dict[str, float] = {}  # commandId -> scheduled send time
        self.result_at: dict[str, float] = {}
        self.event_at: dict[str, float] = {}  # causationId -> first event
        self.statuses: dict[str, str] = {}
        # commandId -> seconds from the result record's timestamp (the service's producer stamps
        # it when it sends) to its arrival here: the outbound hop, on the wall clock.
        self.result_hop: dict[str, float] = {}

    def received(self, record: Any, value: dict[str, Any] | None, arrived: float) -> None:
        """Only arrival times and statuses, never the documents themselves."""
        if value is None:
            return
        if record.topic == self.topics.command_results:
            self.result_at.setdefault(value["commandId"], arrived)
            self.result_hop.setdefault(value["commandId"], time.time() - record.timestamp / 1000)
            self.statuses.setdefault(value["commandId"], value["status"])
        else:
            self.event_at.setdefault(value["causationId"], arrived)

    async def submit(
        self, kind: str, program: str, scheduled: float | None = None, **fields: Any
    ) -> str:
        command = self.command(kind, program, **fields)
        command_id: str = command["commandId"]
        self.sent_at[command_id] = scheduled if scheduled is not None else time.perf_counter()
        await self.enqueue(command)
        return command_id

    async def wait_results(
        self, ids: list[str], timeout: float, progress: tqdm | None = None
    ) -> None:
        deadline = time.perf_counter() + timeout
        pending = [i for i in ids if i not in self.result_at]
        if progress is not None:
            progress.update(len(ids) - len(pending))
        while pending and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            still = [i for i in pending if i not in self.result_at]
            if progress is not None:
                progress.update(len(pending) - len(still))
            pending = still
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(ids)} results missing after {timeout} s")

    def forget(self) -> None:
        """Drop what was matched so far (a long soak keeps the driver's memory flat)."""
        for matched in (
            self.sent_at,
            self.result_at,
            self.event_at,
            self.statuses,
            self.result_hop,
        ):
            matched.clear()


def series_edit(rng: random.Random, program: Program) -> tuple[str, dict[str, Any]]:
    return "series.update", {
        "programExerciseId": rng.choice(program.exercises),
        "index": 0,
        "set": {
            "reps": rng.randint(1, 12),
            "rpe": rng.choice([7, 7.5, 8, 8.5, 9]),
            "restSeconds": 120,
        },
    }


def editor_edit(rng: random.Random, program: Program) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.7:
        return series_edit(rng, program)
    if roll < 0.9:
        series = [
            {
                "reps": rng.randint(3, 10),
                "load": {"value": rng.randint(40, 160), "unit": "kg"},
                "restSeconds": 90,
            }
            for _ in range(rng.randint(3, 5))
        ]
        return "series.replace", {
            "programExerciseId": rng.choice(program.exercises),
            "series": series,
        }
    return "exercise.move", {
        "programExerciseId": rng.choice(program.exercises),
        "toNewGroupAt": rng.randint(0, len(program.exercises) - 1),
    }


MIXES: dict[str, Callable[[random.Random, Program], tuple[str, dict[str, Any]]]] = {
    "series": series_edit,
    "editor": editor_edit,
}


async def seed(driver: Driver, count: int, exercises: int) -> list[Program]:
    programs = []
    ids = []
    for _ in tqdm(range(count), desc="seeding programs", unit="prog", leave=False):
        program = Program(
            str(uuid.uuid4()), str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(exercises)]
        )
        programs.append(program)
        ids.append(await driver.submit("program.create", program.id, name="Bench block", weeks=4))
        ids.append(
            await driver.submit("session.add", program.id, sessionId=program.session, name="Day 1")
        )
        for n, exercise in enumerate(program.exercises):
            ids.append(
                await driver.submit(
                    "exercise.add",
                    program.id,
                    sessionId=program.session,
                    programExerciseId=exercise,
                    exerciseId=str(uuid.uuid4()),
                    name=f"Exercise {n}",
                    series=[{"reps": 5, "load": {"value": 100, "unit": "kg"}, "restSeconds": 180}]
                    * 4,
                )
            )
    await driver.flush()
    await driver.wait_results(ids, 300)
    bad = [i for i in ids if driver.statuses.get(i) != "applied"]
    if bad:
        raise RuntimeError(f"seeding failed for {len(bad)} commands")
    return programs


async def closed_loop(
    driver: Driver, programs: list[Program], mix: str, count: int, rng: random.Random
) -> dict[str, Any]:
    make = MIXES[mix]
    ids = []
    started = time.perf_counter()
    with tqdm(total=count, desc=f"closed loop {mix}", unit="cmd", leave=False) as progress:
        for _ in range(count):
            program = rng.choice(programs)
            kind, fields = make(rng, program)
            ids.append(await driver.submit(kind, program.id, **fields))
        await driver.flush()
        await driver.wait_results(ids, 600, progress)
    elapsed = max(driver.result_at[i] for i in ids) - started
    return {
        "mix": mix,
        "commands": count,
        "seconds": round(elapsed, 3),
        "commands_per_second": round(count / elapsed, 1),
        "applied": sum(driver.statuses[i] == "applied" for i in ids),
    }


def legacy_file(path: Path, count: int, seed: int) -> int:
    """`count` legacy programs as the import's JSON Lines; returns their prescriptions."""
    rng = random.Random(seed)
    prescriptions = 0
    with path.open("w") as file:
        for _ in range(count):
            line = import_line(rng, "bench-legacy")
            prescriptions += prescriptions_of(line["program"])
            file.write(json.dumps(line) + "\n")
    return prescriptions


async def bulk_import(
    env: dict[str, str],
    count: int,
    seed: int,
    in_flight: int,
    metrics_url: str,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """`program-builder import` of `count` legacy programs, timed from the tool's start to its
    exit (interpreter start and the line count included): the end-to-end rate an operator gets."""
    source = RESULTS / "legacy-import.jsonl"
    prescriptions = await asyncio.to_thread(legacy_file, source, count, seed)
    before = await asyncio.to_thread(scrape_stages, metrics_url)
    cpu_before = cpu.sample() if cpu else None
    tool_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run,
        [
            str(SCRIPT),
            "import",
            str(source),
            "--in-flight",
            str(in_flight),
            "--report",
            str(RESULTS / "import-report.jsonl"),
        ],
        # The tool of this checkout, also when the service runs from another (--service-checkout)
        env={name: value for name, value in env.items() if name != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = await asyncio.to_thread(scrape_stages, metrics_url)
    if done.returncode != 0:
        raise RuntimeError(f"import exited {done.returncode}: {done.stdout}{done.stderr[-2000:]}")
    report: dict[str, Any] = {
        "programs": count,
        "prescriptions": prescriptions,
        "in_flight": in_flight,
        "seconds": round(seconds, 2),
        "programs_per_second": round(count / seconds, 1),
        "prescriptions_per_second": round(prescriptions / seconds, 1),
        "summary": done.stdout.strip().splitlines()[0],
        "stages": stage_summary(before, after),
    }
    if cpu is not None and cpu_before is not None:
        report["cpu_percent"] = CpuMeter.percent(cpu_before, cpu.sample(), seconds)
        tool = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (tool.ru_utime + tool.ru_stime) - (tool_before.ru_utime + tool_before.ru_stime)
        report["cpu_percent"]["import tool"] = round(used / seconds * 100)
    return report


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


async def open_loop(
    driver: Driver,
    programs: list[Program],
    mix: str,
    rate: int,
    seconds: float,
    rng: random.Random,
    *,
    bar: bool = True,
    metrics_url: str | None = None,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    make = MIXES[mix]
    before = await asyncio.to_thread(scrape_stages, metrics_url) if metrics_url else None
    cpu_before = cpu.sample() if cpu else None
    wall_before = time.perf_counter()
    total = int(rate * seconds)
    ids: list[str] = []
    start = time.perf_counter() + 0.1
    with tqdm(
        total=total, desc=f"open loop {rate}/s", unit="cmd", leave=False, disable=not bar
    ) as progress:
        for n in range(total):
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            program = rng.choice(programs)
            kind, fields = make(rng, program)
            ids.append(await driver.submit(kind, program.id, scheduled=scheduled, **fields))
        await driver.flush()
        await driver.wait_results(ids, 300, progress)
    result_latency = [driver.result_at[i] - driver.sent_at[i] for i in ids]
    event_ids = [i for i in ids if i in driver.event_at]
    event_latency = [driver.event_at[i] - driver.sent_at[i] for i in event_ids]
    timeline = [(driver.sent_at[i] - start, driver.result_at[i] - driver.sent_at[i]) for i in ids]
    report = {
        "mix": mix,
        "offered_per_second": rate,
        "commands": total,
        "result": percentiles(result_latency),
        "prescription_updated": percentiles(event_latency),
        "result_hop": percentiles([driver.result_hop[i] for i in ids if i in driver.result_hop]),
        "timeline": timeline,
    }
    if cpu is not None and cpu_before is not None:
        report["cpu_percent"] = CpuMeter.percent(
            cpu_before, cpu.sample(), time.perf_counter() - wall_before
        )
    if metrics_url and before is not None:
        after = await asyncio.to_thread(scrape_stages, metrics_url)
        report["stages"] = stage_summary(before, after)
    return report


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


async def soak(
    driver: Driver,
    programs: list[Program],
    service: SampledService,
    database_url: str,
    args: argparse.Namespace,
    rng: random.Random,
    broker_pid: int | None = None,
) -> dict[str, Any]:
    """Hold `rate` commands/s for `seconds` in 10 s slices; sample RSS and table sizes (and the
    embedded broker's RSS and CPU). Each slice is printed as it ends; the soak stops early once a
    slice's p99 passes 30 s: from then on it would only measure its own backlog."""
    import asyncpg

    broker = psutil.Process(broker_pid) if broker_pid else None
    if broker is not None:
        broker.cpu_percent(None)
    stopped_early = False
    slices = max(1, int(args.soak_seconds // 10))
    samples = []
    connection = await asyncpg.connect(database_url)
    started = time.perf_counter()
    try:
        for _ in tqdm(range(slices), desc=f"soak {args.soak_rate}/s", unit="10s", leave=False):
            driver.forget()
            result = await open_loop(driver, programs, "editor", args.soak_rate, 10, rng, bar=False)
            counts = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM outbox) AS outbox,"
                " (SELECT count(*) FROM inbox) AS inbox"
            )
            sample = {
                "at_seconds": round(time.perf_counter() - started, 1),
                "rss_mb": round(service.rss() / 2**20, 1),
                "p99_ms": result["result"].get("p99_ms"),
                "outbox_rows": counts["outbox"],
                "inbox_rows": counts["inbox"],
            }
            if broker is not None:
                sample["broker_rss_mb"] = round(broker.memory_info().rss / 2**20, 1)
                sample["broker_cpu_percent"] = broker.cpu_percent(None)
            samples.append(sample)
            tqdm.write(f"soak slice {sample}")
            if (sample["p99_ms"] or 0) > 30_000:
                stopped_early = True
                tqdm.write("soak stopped: the service fell behind the offered rate")
                break
    finally:
        await connection.close()
    # Flat: after the first minute (warm-up), every sample within ±10 % of their median.
    steady = [sample["rss_mb"] for sample in samples[6:]] or [s["rss_mb"] for s in samples]
    median = sorted(steady)[len(steady) // 2]
    return {
        "rate": args.soak_rate,
        "seconds": args.soak_seconds,
        "samples": samples,
        "rss_median_mb": median,
        "rss_min_mb": min(steady),
        "rss_max_mb": max(steady),
        "rss_flat": all(abs(value - median) <= 0.1 * median for value in steady),
        "stopped_early": stopped_early,
        "retention": {
            "OUTBOX_RETENTION_SECONDS": args.soak_retention_seconds,
            "RETENTION_INTERVAL_SECONDS": 10,
        },
    }


# The Driver's client settings: a hop is measured with exactly these, so its floor is comparable.
PRODUCER = {"linger_ms": 1, "acks": 1}
CONSUMER = {"fetch_max_wait_ms": 5, "max_partition_fetch_bytes": 4 * 1024 * 1024}
POLL = {"timeout_ms": 50, "max_records": 5000}


async def scratch_topic(bootstrap: str, prefix: str) -> str:
    """A new topic of 4 partitions, named `<prefix>-<random>`."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    return topic


async def broker_hop(
    bootstrap: str, rate: int, seconds: float, cpu: CpuMeter | None = None
) -> dict[str, Any]:
    """One broker hop at `rate`/s: produce to a scratch topic and consume it with the Driver's
    client settings; latency from each record's scheduled send time to its arrival. The topic
    exists and a first record has gone through before anything is timed."""
    topic = await scratch_topic(bootstrap, "bench-hop")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **CONSUMER)
    await producer.start()
    await consumer.start()
    arrived: dict[int, float] = {}
    changed = asyncio.Condition()

    async def read() -> None:
        while True:
            batches = await consumer.getmany(**POLL)
            now = time.perf_counter()
            async with changed:
                for records in batches.values():
                    for record in records:
                        arrived[int(record.value)] = now
                changed.notify_all()

    async def until(predicate: Callable[[], bool], timeout: float) -> None:
        async with changed:
            await asyncio.wait_for(changed.wait_for(predicate), timeout)

    try:
        partitions = await partitions_of({"bootstrap_servers": bootstrap}, [topic], 30)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)
        reader = asyncio.create_task(read())
        await producer.send_and_wait(topic, b"-1", key=b"warm-up")
        await until(lambda: -1 in arrived, 30)
        total = int(rate * seconds)
        start = time.perf_counter() + 0.1
        cpu_before = cpu.sample() if cpu else None
        scheduled_at: dict[int, float] = {}
        for n in range(total):
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled_at[n] = scheduled
            await producer.send(topic, str(n).encode(), key=uuid.uuid4().bytes)
        await producer.flush()
        await until(lambda: len(arrived) > total, 60)
        reader.cancel()
        hop: dict[str, Any] = percentiles(
            [arrived[n] - scheduled_at[n] for n in scheduled_at if n in arrived]
        )
        if cpu is not None and cpu_before is not None:
            hop["cpu_percent"] = CpuMeter.percent(
                cpu_before, cpu.sample(), time.perf_counter() - start
            )
        return hop
    finally:
        await consumer.stop()
        await producer.stop()


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


async def broker_growth(rate: int, seconds: float) -> list[dict[str, float]]:
    """The embedded broker alone, fed a constant `rate` of keyed 600-byte records that one
    consumer follows: its CPU and RSS per 10 s slice (does its cost per record stay flat?)."""
    stack = EmbeddedStack().start()
    assert stack.broker.process is not None
    broker = psutil.Process(stack.broker.process.pid)
    bootstrap = stack.broker.bootstrap_servers
    slices: list[dict[str, float]] = []
    try:
        topic = await scratch_topic(bootstrap, "bench-growth")
        partitions = await partitions_of({"bootstrap_servers": bootstrap}, [topic], 30)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **CONSUMER
        )
        await producer.start()
        await consumer.start()
        consumer.assign(partitions)

        async def follow() -> None:
            while True:
                await consumer.getmany(**POLL)

        reader = asyncio.create_task(follow())
        try:
            broker.cpu_percent(None)
            start = time.perf_counter()
            per_slice = int(rate * 10)
            for n in range(int(rate * seconds)):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await producer.send(topic, b"x" * 600, key=uuid.uuid4().bytes)
                if (n + 1) % per_slice == 0:
                    slices.append(
                        {
                            "at_seconds": round(time.perf_counter() - start, 1),
                            "broker_cpu_percent": broker.cpu_percent(None),
                            "broker_rss_mb": round(broker.memory_info().rss / 2**20, 1),
                        }
                    )
                    tqdm.write(f"broker growth {slices[-1]}")
        finally:
            reader.cancel()
            await consumer.stop()
            await producer.stop()
    finally:
        stack.stop()
    return slices


async def py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
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


def floor_of(hop: dict[str, float], commit_ms: float) -> dict[str, float]:
    """Two broker hops (command in, result out) and one PostgreSQL commit."""
    return {
        "p50_ms": round(2 * hop["p50_ms"] + commit_ms, 2),
        "p99_ms": round(2 * hop["p99_ms"] + commit_ms, 2),
    }


def pgbench(bin_dir: Path, url: str, seconds: int) -> dict[str, Any] | None:
    binary = shutil.which("pgbench") or str(bin_dir / "pgbench")
    if not Path(binary).exists():
        return None
    subprocess.run([binary, "-i", "-q", "-s", "1", url], check=True, capture_output=True)
    out = subprocess.run(
        [binary, "-c", "4", "-j", "2", "-T", str(seconds), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tps = next(
        float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps")
    )
    latency = next(
        float(line.split("=")[1].split()[0])
        for line in out.splitlines()
        if line.startswith("latency average")
    )
    return {
        "tps": tps,
        "latency_average_ms": latency,
        "command": f"pgbench -c 4 -j 2 -T {seconds} (TPC-B, scale 1)",
        "binary": binary,
    }


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(exist_ok=True)
    rng = random.Random(args.seed)
    stack = None
    broker_pid: int | None = None
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        bootstrap, database_url = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
        settings_used = {"broker": bootstrap, "postgres": "configured by DATABASE_URL"}
        bin_dir = Path("/nonexistent")
    else:
        stack = EmbeddedStack().start()
        broker_pid = stack.broker.process.pid if stack.broker.process else None
        bootstrap, database_url = stack.broker.bootstrap_servers, stack.postgres.url
        settings_used = {
            "broker": stack.broker.settings_description(),
            "postgres": stack.postgres.settings(),
        }
        bin_dir = stack.postgres.bin_dir
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    http_port = 18080 + rng.randint(0, 1000)
    env = service_env(
        bootstrap,
        database_url,
        prefix,
        HTTP_PORT=str(http_port),
        KAFKA_SESSION_TIMEOUT_MS="6000",
        KAFKA_HEARTBEAT_INTERVAL_MS="1000",
        RELAY_POLL_INTERVAL_SECONDS="1",
    )
    if args.service_checkout:  # another checkout's service (and migrations), same bench
        env["PYTHONPATH"] = args.service_checkout
    report: dict[str, Any] = {"settings": settings_used, "programs": args.programs}
    try:
        if args.pgbench_seconds:  # the anchor, on the same PostgreSQL, before the service runs
            report["pgbench"] = await asyncio.to_thread(
                pgbench, bin_dir, database_url, args.pgbench_seconds
            )
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service", "migrate"],
            env=env,
            # `-m` puts the working directory first on the path, before PYTHONPATH.
            cwd=args.service_checkout,
            check=True,
            capture_output=True,
        )
        log = RESULTS / "service.log"
        log.unlink(missing_ok=True)
        service = SampledService(env, log)
        service.start()
        try:
            await service.wait_readiness(204, 60)
            cpu = CpuMeter(
                {
                    "driver": os.getpid(),
                    "service": service.handle.pid if service.handle else None,
                    "broker": broker_pid,
                    "postgres": postmaster_pid(stack.postgres.port) if stack else None,
                }
            )
            metrics_url = f"http://127.0.0.1:{http_port}/metrics"
            if args.import_programs and args.import_first:
                report["import"] = await bulk_import(
                    env, args.import_programs, args.seed, args.import_in_flight, metrics_url, cpu
                )
            driver = Driver(bootstrap, Topics(prefix))
            await driver.start()
            programs = await seed(driver, args.programs, args.exercises)
            report["closed_loop"] = []
            profiler = None
            if args.profile:
                profiler = await py_spy(service.handle.pid, RESULTS / "profile.txt")
            for mix in args.mixes:
                cpu_before = service.cpu_seconds()
                result = await closed_loop(driver, programs, mix, args.commands, rng)
                result["service_cpu_ms_per_command"] = round(
                    (service.cpu_seconds() - cpu_before) * 1000 / args.commands, 3
                )
                report["closed_loop"].append(result)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            report["open_loop"] = []
            commit_ms = (report.get("pgbench") or {}).get("latency_average_ms", 0.0)
            for rate in args.rates:
                # The floor of this rate, measured right before the service runs at it.
                hop = await broker_hop(bootstrap, rate, args.seconds, cpu)
                result = await open_loop(
                    driver,
                    programs,
                    "editor",
                    rate,
                    args.seconds,
                    rng,
                    metrics_url=f"http://127.0.0.1:{http_port}/metrics",
                    cpu=cpu,
                )
                result["broker_hop"] = hop
                result["floor"] = floor_of(hop, commit_ms)
                report["open_loop"].append(result)
            if args.import_programs and not args.import_first:
                # The driver follows every prescription-updated event: decoding the import's
                # (some 50 per program) would take a core's share from the service.
                await driver.stop()
                profiler = None
                if args.profile_import:
                    profiler = await py_spy(service.handle.pid, RESULTS / "profile-import.txt")
                report["import"] = await bulk_import(
                    env, args.import_programs, args.seed, args.import_in_flight, metrics_url, cpu
                )
                if args.pgbench_seconds:  # the box is shared: the anchor again, right after
                    report["pgbench_after_import"] = await asyncio.to_thread(
                        pgbench, bin_dir, database_url, args.pgbench_seconds
                    )
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(30)
            report["service_peak_rss_mb"] = round(service.peak_rss / 2**20, 1)
            if args.soak_seconds:
                # In a process of its own that prunes sent outbox rows after a minute, so the
                # soak shows the tables stay bounded (the measurements above keep the default
                # retention: a burst of pruning would skew them).
                service.finish()
                service = SampledService(
                    {
                        **env,
                        "OUTBOX_RETENTION_SECONDS": str(args.soak_retention_seconds),
                        "RETENTION_INTERVAL_SECONDS": "10",
                    },
                    log,
                )
                service.start()
                await service.wait_readiness(204, 60)
                if args.import_programs and not args.import_first:
                    driver = Driver(bootstrap, Topics(prefix))
                    await driver.start()
                report["soak"] = await soak(
                    driver, programs, service, database_url, args, rng, broker_pid
                )
            if not args.import_programs or args.import_first or args.soak_seconds:
                await driver.stop()
        finally:
            service.finish()
    finally:
        if stack is not None:
            stack.stop()
    return report


def import_anchor(report: dict[str, Any]) -> float | None:
    """pgbench tps around the import: the mean of the runs before and right after it."""
    runs = [
        run["tps"]
        for run in (report.get("pgbench"), report.get("pgbench_after_import"))
        if run is not None
    ]
    return sum(runs) / len(runs) if runs else None


def ratio(value: float | None, anchor: float | None) -> float | None:
    return round(value / anchor, 2) if value is not None and anchor else None


def evaluate(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tps = (report.get("pgbench") or {}).get("tps")
    closed = {r["mix"]: r["commands_per_second"] for r in report["closed_loop"]}
    at = {r["offered_per_second"]: r for r in report["open_loop"]}
    at_500 = at.get(500)
    values = {
        "series_vs_pgbench_tps": ratio(closed.get("series"), tps),
        "editor_vs_pgbench_tps": ratio(closed.get("editor"), tps),
        "p50_at_500_vs_floor": ratio(at_500["result"]["p50_ms"], at_500["floor"]["p50_ms"])
        if at_500
        else None,
        "p99_at_500_vs_floor": ratio(at_500["result"]["p99_ms"], at_500["floor"]["p99_ms"])
        if at_500
        else None,
        "peak_rss_mb": report["service_peak_rss_mb"],
        "import_prescriptions_vs_pgbench_tps": ratio(
            report["import"]["prescriptions_per_second"], import_anchor(report)
        )
        if "import" in report
        else None,
    }
    out = {}
    for name, (op, target) in TARGETS.items():
        value = values[name]
        passed = value is not None and (value >= target if op == ">=" else value <= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "pass": passed}
    within = [
        rate
        for rate, r in at.items()
        if r["result"].get("p99_ms", float("inf")) <= 2 * r["floor"]["p99_ms"]
    ]
    out["highest_rate_p99_within_2x_floor"] = {
        "value": max(within) if within else None,
        "target": "reported",
        "pass": True,
    }
    if "soak" in report:
        soak = report["soak"]
        out["soak_rss_flat"] = {
            "value": f"{soak['rss_min_mb']}..{soak['rss_max_mb']} MB",
            "target": f"within ±10 % of {soak['rss_median_mb']} MB",
            "pass": soak["rss_flat"],
        }
        out["soak_kept_up"] = {
            "value": "stopped early" if soak["stopped_early"] else f"{soak['seconds']:g} s",
            "target": f"{soak['rate']}/s held for the whole soak",
            "pass": not soak["stopped_early"],
        }
    return out


def table(report: dict[str, Any]) -> str:
    lines = [
        "closed loop (as fast as it goes)",
        f"  {'mix':<8} {'commands':>9} {'cmd/s':>9} {'cpu ms/cmd':>11} {'ratio to pgbench':>17}",
    ]
    tps = (report.get("pgbench") or {}).get("tps")
    for r in report["closed_loop"]:
        versus = f"{r['commands_per_second'] / tps:.2f}" if tps else "n/a"
        lines.append(
            f"  {r['mix']:<8} {r['commands']:>9} {r['commands_per_second']:>9} "
            f"{r['service_cpu_ms_per_command']:>11} {versus:>17}"
        )
    lines += [
        "open loop, editor mix: ms from scheduled send to result, and as a multiple of the floor",
        "  (floor = 2 broker hops measured at the same rate with the same client settings,",
        "   + pgbench's average commit latency on the same PostgreSQL)",
        f"  {'offered/s':>9} {'hop p50':>8} {'hop p99':>8} {'floor p50':>10} {'floor p99':>10}"
        f" {'p50':>8} {'x floor':>8} {'p99':>8} {'x floor':>8} {'max':>8} {'→event p99':>11}",
    ]
    for r in report["open_loop"]:
        res, ev, hop, floor = r["result"], r["prescription_updated"], r["broker_hop"], r["floor"]
        lines.append(
            f"  {r['offered_per_second']:>9} {hop['p50_ms']:>8} {hop['p99_ms']:>8}"
            f" {floor['p50_ms']:>10} {floor['p99_ms']:>10} {res['p50_ms']:>8}"
            f" {ratio(res['p50_ms'], floor['p50_ms']):>8} {res['p99_ms']:>8}"
            f" {ratio(res['p99_ms'], floor['p99_ms']):>8} {res['max_ms']:>8}"
            f" {ev.get('p99_ms', '-'):>11}"
        )
    lines += [
        "where the time goes (service stages, from its program_builder_stage_seconds; the",
        "  outbound hop from each result's record timestamp): mean ms (p50 bucket bound)",
        "  " + f"{'offered/s':>9}" + "".join(f" {stage:>15}" for stage in (*STAGES, "result hop")),
    ]
    for r in report["open_loop"]:
        stages = r.get("stages", {})
        cells = [
            f"{stages[stage]['mean_ms']} ({stages[stage]['p50_under_ms']:g})"
            if stage in stages
            else "-"
            for stage in STAGES
        ]
        hop = r.get("result_hop", {})
        cells.append(f"p50 {hop.get('p50_ms', '-')}")
        lines.append(f"  {r['offered_per_second']:>9}" + "".join(f" {c:>15}" for c in cells))
    lines += [
        "CPU % of one core, by process, during the hop and during the service's run at a rate",
        "  (this box has 2 cores, 200 % in all)",
    ]
    for r in report["open_loop"]:
        for phase, used in (("hop", r["broker_hop"]), ("service", r)):
            if "cpu_percent" in used:
                shares = used["cpu_percent"]
                lines.append(
                    f"  {r['offered_per_second']:>9} {phase:<8} "
                    + " ".join(f"{name} {value:>3}" for name, value in shares.items())
                    + f"  total {sum(shares.values()):>3}"
                )
    if "import" in report:
        imported = report["import"]
        anchor = import_anchor(report)
        versus = f"{imported['prescriptions_per_second'] / anchor:.2f}" if anchor else "n/a"
        lines += [
            f"bulk import (program-builder import, {imported['programs']} legacy programs, "
            f"{imported['prescriptions']} prescriptions, --in-flight {imported['in_flight']}):",
            f"  {imported['seconds']} s: {imported['programs_per_second']} programs/s, "
            f"{imported['prescriptions_per_second']} prescriptions/s, "
            f"{versus} x pgbench tps (mean of before and after: {anchor or 0:.0f}); "
            f"{imported['summary']}",
            "  stages: "
            + ", ".join(
                f"{stage} {values['mean_ms']} ms x{values['count']}"
                for stage, values in imported["stages"].items()
            ),
        ]
        if "cpu_percent" in imported:
            lines.append(
                "  CPU %: " + " ".join(f"{k} {v}" for k, v in imported["cpu_percent"].items())
            )
    lines.append(f"service peak RSS: {report['service_peak_rss_mb']} MB")
    if "soak" in report:
        soak = report["soak"]
        lines.append(f"soak at {soak['rate']}/s for {soak['seconds']:g} s (10 s slices):")
        lines.append(f"  {'at s':>6} {'rss MB':>7} {'p99 ms':>7} {'outbox':>8} {'inbox':>8}")
        lines += [
            f"  {x['at_seconds']:>6} {x['rss_mb']:>7} {x['p99_ms']:>7}"
            f" {x['outbox_rows']:>8} {x['inbox_rows']:>8}"
            for x in soak["samples"]
        ]
    if tps:
        bench = report["pgbench"]
        lines.append(
            f"pgbench: {tps:.0f} tps, {bench['latency_average_ms']} ms average ({bench['command']})"
        )
        if "pgbench_after_import" in report:
            after = report["pgbench_after_import"]["tps"]
            lines.append(f"pgbench right after the import: {after:.0f} tps")
    lines.append("targets:")
    for name, check in report["targets"].items():
        verdict = "PASS" if check["pass"] else "FAIL"
        lines.append(f"  {verdict} {name}: {check['value']} (target {check['target']})")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 5))
    for r in report["open_loop"]:
        xs, ys = zip(*r["timeline"], strict=True) if r["timeline"] else ((), ())
        axis.plot(
            xs, [y * 1000 for y in ys], ".", markersize=2, label=f"{r['offered_per_second']}/s"
        )
    axis.set_xlabel("seconds into the run")
    axis.set_ylabel("produce → result latency (ms)")
    axis.set_yscale("log")
    axis.legend()
    axis.set_title("Program Builder: latency over time at fixed offered rates (editor mix)")
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--exercises", type=int, default=4)
    parser.add_argument("--commands", type=int, default=20_000, help="per closed-loop mix")
    parser.add_argument("--rates", type=int, nargs="*", default=[100, 500, 1000, 2000])
    parser.add_argument("--mixes", nargs="*", choices=sorted(MIXES), default=["series", "editor"])
    parser.add_argument("--seconds", type=float, default=10, help="per open-loop rate")
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--import-programs",
        type=int,
        default=3000,
        help="legacy programs for the bulk-import phase (0 skips it)",
    )
    parser.add_argument("--import-in-flight", type=int, default=256)
    parser.add_argument(
        "--profile-import",
        action="store_true",
        help="py-spy the service during the import (bench/results/profile-import.txt)",
    )
    parser.add_argument(
        "--import-first",
        action="store_true",
        help="run the import before the edit loops (on an empty database)",
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=0,
        help="then hold --soak-rate for this long, sampling RSS and table sizes (600: 10 min)",
    )
    parser.add_argument("--soak-rate", type=int, default=100)
    parser.add_argument("--soak-retention-seconds", type=int, default=60)
    parser.add_argument(
        "--broker-growth",
        type=float,
        metavar="SECONDS",
        help="only feed the embedded broker 100 records/s for this long, printing its CPU and RSS",
    )
    parser.add_argument(
        "--service-checkout",
        help="run the service (and its migrations) from this checkout instead, for a before/after",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the service during the closed loops (bench/results/profile.txt)",
    )
    args = parser.parse_args()
    if args.broker_growth:
        asyncio.run(broker_growth(100, args.broker_growth))
        return
    if args.service_checkout:
        args.service_checkout = str(Path(args.service_checkout).resolve())
    report = asyncio.run(run(args))
    report["targets"] = evaluate(report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    plot(report, RESULTS / f"latency-{stamp}.png")
    for r in report["open_loop"]:
        r.pop("timeline")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nwrote {RESULTS}/bench-{stamp}.json and latency-{stamp}.png")


if __name__ == "__main__":
    main()
