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
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.floor import broker_growth, broker_hop, floor_of, pgbench
from bench.loads import bulk_import, closed_loop, instances, open_loop, soak
from bench.meters import CpuMeter, SampledService, postmaster_pid, py_spy
from bench.report import RESULTS, evaluate, plot, table
from bench.templates import KeptVersions, templates
from bench.workload import MIXES, Driver, seed
from contracts.topics import Topics
from devstack.children import free_port
from devstack.stack import EmbeddedStack, choose_broker
from tests.support.process import service_env


async def run(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(exist_ok=True)
    rng = random.Random(args.seed)
    stack = None
    broker_pid: int | None = None
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        bootstrap, database_url = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
        settings_used = {"broker": bootstrap, "postgres": "configured by DATABASE_URL"}
        bin_dir = Path("/nonexistent")
        idempotent = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true")
    else:
        stack = EmbeddedStack(choice=choose_broker()).start()
        broker_pid = next(iter(stack.broker.pids()), None)
        idempotent = str(stack.broker.idempotent).lower()
        bootstrap, database_url = stack.broker.bootstrap_servers, stack.postgres.url
        settings_used = {
            "broker": stack.broker.settings_description(),
            "postgres": stack.postgres.settings(),
        }
        bin_dir = stack.postgres.bin_dir
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    http_port = free_port()  # never a seeded one: two benches side by side would share it
    env = service_env(
        bootstrap,
        database_url,
        prefix,
        HTTP_PORT=str(http_port),
        KAFKA_SESSION_TIMEOUT_MS="6000",
        KAFKA_HEARTBEAT_INTERVAL_MS="1000",
        RELAY_POLL_INTERVAL_SECONDS="1",
        KAFKA_ENABLE_IDEMPOTENCE=idempotent,
    )
    if args.service_checkout:  # another checkout's service (and migrations), same bench
        env["PYTHONPATH"] = args.service_checkout
    report: dict[str, Any] = {"settings": settings_used, "programs": args.programs}
    kept: KeptVersions | None = None  # the kept versions, read between phases (--templates)
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
                profile = RESULTS / "profile-import.txt"
                async with py_spy(service.handle.pid, profile, enabled=args.profile_import):
                    report["import"] = await bulk_import(
                        env,
                        args.import_programs,
                        args.seed,
                        args.import_in_flight,
                        metrics_url,
                        cpu,
                    )
            driver = Driver(bootstrap, Topics(prefix))
            await driver.start()
            programs = await seed(driver, args.programs, args.exercises)
            if args.templates:
                kept = await KeptVersions.connect(database_url)
                await kept.snapshot("seeding")
            report["closed_loop"] = []
            async with py_spy(service.handle.pid, RESULTS / "profile.txt", enabled=args.profile):
                for mix in args.mixes:
                    cpu_before = service.cpu_seconds()
                    result = await closed_loop(driver, programs, mix, args.commands, rng)
                    result["service_cpu_ms_per_command"] = round(
                        (service.cpu_seconds() - cpu_before) * 1000 / args.commands, 3
                    )
                    report["closed_loop"].append(result)
                    if kept is not None:  # outside the loop's CPU: read once it is answered
                        await kept.snapshot(mix, args.commands)
            if args.instances:
                report["instances"] = await instances(
                    driver, programs, service, args.instances, args, rng
                )
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
            if kept is not None:
                if args.instances or args.rates:
                    await kept.snapshot(
                        ", ".join(
                            name
                            for name, ran in (
                                ("instances", args.instances),
                                ("open loops", args.rates),
                            )
                            if ran
                        )
                    )
                # Before a later import: its programs are creations, which keep no versions.
                report["templates"] = await templates(
                    bootstrap, Topics(prefix), service, kept, args.templates, args.seed
                )
                report["history"] = {
                    "snapshots": kept.snapshots,
                    **await kept.tables(),
                }
                await kept.close()
                kept = None
            if args.import_programs and not args.import_first:
                # The driver follows every prescription-updated event: decoding the import's
                # (some 50 per program) would take a core's share from the service.
                await driver.stop()
                profile = RESULTS / "profile-import.txt"
                async with py_spy(service.handle.pid, profile, enabled=args.profile_import):
                    report["import"] = await bulk_import(
                        env,
                        args.import_programs,
                        args.seed,
                        args.import_in_flight,
                        metrics_url,
                        cpu,
                    )
                    if args.pgbench_seconds:  # the box is shared: the anchor again, right after
                        report["pgbench_after_import"] = await asyncio.to_thread(
                            pgbench, bin_dir, database_url, args.pgbench_seconds
                        )
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
            if kept is not None:
                await kept.close()
            service.finish()
    finally:
        if stack is not None:
            stack.stop()
    return report


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
    parser.add_argument(
        "--instances",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="after the closed loops, the series loop again with N processes in the group",
    )
    parser.add_argument("--soak-retention-seconds", type=int, default=60)
    parser.add_argument(
        "--templates",
        type=int,
        default=0,
        metavar="N",
        help="after the open loops: N program.copy of a 6-session, 8-week template, N"
        " program.sync of the copies after it changed, N program.revert of them (service CPU per"
        " command, ratios to the copy), and the kept versions' size (program_history); 0 skips it",
    )
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
