"""The loads the bench drives the service with: closed loops, open loops at fixed rates (timed from
each command's scheduled send, so a stalled service cannot hide its queueing), the bulk import
through `program-builder import`, and the soak."""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import subprocess
import time
from typing import Any

import psutil
from tqdm import tqdm

from bench.meters import CpuMeter, SampledService, percentiles, scrape_stages, stage_summary
from bench.report import RESULTS
from bench.workload import MIXES, Driver, Program, legacy_file
from tests.support.process import SCRIPT


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


async def instances(
    driver: Driver,
    programs: list[Program],
    main: SampledService,
    counts: list[int],
    args: argparse.Namespace,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The series closed loop with 1, 2, 3… service processes in one consumer group (`main`
    and copies of it, on other HTTP ports): commands/s and the CPU per command of all of them
    together. On one box they share its cores with the broker, PostgreSQL and this driver."""
    from devstack.children import free_port

    rows = []
    for count in counts:
        extra = [
            SampledService({**main.env, "HTTP_PORT": str(free_port())}, main.log)
            for _ in range(count - 1)
        ]
        for process in extra:
            process.start()
        try:
            await asyncio.gather(*(p.wait_readiness(204, 60) for p in extra))
            await asyncio.sleep(2)  # the group has rebalanced: every member owns partitions
            every = [main, *extra]
            cpu_before = sum(p.cpu_seconds() for p in every)
            result = await closed_loop(driver, programs, "series", args.commands, rng)
            cpu = sum(p.cpu_seconds() for p in every) - cpu_before
            rows.append(
                {
                    "instances": count,
                    "commands_per_second": result["commands_per_second"],
                    "service_cpu_ms_per_command": round(cpu * 1000 / args.commands, 3),
                }
            )
            tqdm.write(f"{count} instance(s): {rows[-1]}")
        finally:
            for process in extra:
                process.finish()
    return rows


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


STEADY_FROM_SECONDS = 300
"""A soak is judged from minute 5 on (or its last five sixths, when shorter): the warm-up of
the JIT, the pools and the page cache is over."""
STEADY_TOLERANCE = 0.20


def steadiness(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Per minute of the steady part: the median p99 of its 10 s slices, the mean service RSS
    and the mean broker CPU; each metric is steady when every minute lies within ±20 % of the
    median minute."""
    start = min(STEADY_FROM_SECONDS, seconds / 6)
    steady = [x for x in samples if x["at_seconds"] > start]
    minutes: dict[int, list[dict[str, Any]]] = {}
    for sample in steady:
        minutes.setdefault(int((sample["at_seconds"] - start - 1e-9) // 60), []).append(sample)
    summary: dict[str, Any] = {"from_seconds": round(start), "minutes": len(minutes)}
    for metric, combine in (
        ("p99_ms", statistics.median),
        ("rss_mb", statistics.fmean),
        ("broker_cpu_percent", statistics.fmean),
    ):
        values = [
            round(combine(found), 1)
            for slices in minutes.values()
            if (found := [x[metric] for x in slices if x.get(metric) is not None])
        ]
        if not values:
            continue
        middle = statistics.median(values)
        summary[metric] = {
            "per_minute": values,
            "median": round(middle, 1),
            "min": min(values),
            "max": max(values),
            "steady": all(abs(v - middle) <= STEADY_TOLERANCE * middle for v in values),
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
            try:
                result = await open_loop(
                    driver, programs, "editor", args.soak_rate, 10, rng, bar=False
                )
            except TimeoutError as error:  # results that never came: the broker gave up
                tqdm.write(f"soak stopped: {error}")
                stopped_early = True
                break
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
    return {
        "rate": args.soak_rate,
        "seconds": args.soak_seconds,
        "samples": samples,
        "steady": steadiness(samples, args.soak_seconds),
        "stopped_early": stopped_early,
        "retention": {
            "OUTBOX_RETENTION_SECONDS": args.soak_retention_seconds,
            "RETENTION_INTERVAL_SECONDS": 10,
        },
    }
