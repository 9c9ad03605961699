"""The floor a command's trip is measured against, in the same run: one broker hop at the same rate
with the same client settings, pgbench on the same PostgreSQL, and the embedded broker alone."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tqdm import tqdm

from bench.meters import CpuMeter, percentiles
from devstack.stack import EmbeddedStack, choose_broker
from service.clients.client import partitions_of

# The Driver's client settings: a hop is measured with exactly these, so its floor is comparable.
PRODUCER = {"linger_ms": 1, "acks": 1}


PRODUCER = {"linger_ms": 1, "acks": 1}
CONSUMER = {"fetch_max_wait_ms": 5, "max_partition_fetch_bytes": 4 * 1024 * 1024}


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


async def broker_growth(rate: int, seconds: float) -> list[dict[str, float]]:
    """The local broker alone, fed a constant `rate` of keyed 600-byte records that one
    consumer follows: its CPU and RSS per 10 s slice (does its cost per record stay flat?)."""
    stack = EmbeddedStack(choice=choose_broker()).start()
    broker = psutil.Process(stack.broker.pids()[0])
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
