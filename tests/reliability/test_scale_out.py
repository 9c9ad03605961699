"""Scale out as it is deployed: several service processes in one consumer group while a steady
open-loop stream flows (300 commands/s over 60 programs of three tenants, every command type the
model-based generator draws), scaled 1 → 3 → 1: two instances join one after the other, one
is SIGKILLed in the middle of its batches, one is SIGTERMed.

Afterwards every command has exactly one outcome, the one the domain core predicts; every program
is at the version a sequential replay reaches; every committed event reached the broker; the
latest event per key is the database's state; and per key, events go back in version only as an
at-least-once replay of a tail (the same bytes again), never as an older owner publishing after
a newer one. The figures (how long each change leaves partitions without results) are printed
for the note and bounded: a join or a SIGTERM at most 2 s, a SIGKILL at most the session timeout
+ 2 s."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.flow import (
    assert_consistent,
    longest_silence,
    p99_latency,
    paced,
    started_with_reader,
    stream,
)
from tests.support.runs import RunFactory
from tests.support.scale import scaled

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

RATE = 300
SECONDS = 34
SESSION_TIMEOUT_MS = 3000
CHANGE_LIMIT_SECONDS = 2.0


async def test_one_to_three_to_one_instances_with_a_kill_and_a_stop_while_300_per_second_flow(
    service_run: RunFactory, database_url: str
) -> None:
    messages, predicted = stream(tenants=3, programs=20, count=scaled(RATE * SECONDS))
    run = service_run(
        "scale",
        KAFKA_SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_MS),
        KAFKA_HEARTBEAT_INTERVAL_MS="500",
        LOG_LEVEL="INFO",
    )
    first, reader = await started_with_reader(run)
    changes: list[tuple[str, float]] = []
    try:
        scheduled: dict[str, float] = {}
        sending = asyncio.create_task(paced(reader, messages, RATE, scheduled=scheduled))
        await asyncio.sleep(5)
        joined = []
        for name in ("second joins", "third joins"):
            joined.append(run.start())
            changes.append((name, time.perf_counter()))
            await joined[-1].wait_for("program-builder ready", 60)
            await asyncio.sleep(3)
        joined[0].kill()  # SIGKILL, with batches in flight: 300/s never leaves it idle
        changes.append(("SIGKILL", time.perf_counter()))
        await asyncio.sleep(SESSION_TIMEOUT_MS / 1000 + 4)
        stopped = joined[1]
        changes.append(("SIGTERM", time.perf_counter()))
        assert await asyncio.to_thread(stopped.terminate) == 0, run.output()
        await sending
        replays = await assert_consistent(predicted, reader, database_url)
        assert first.terminate() == 0, run.output()
    finally:
        await reader.stop()

    # Each change's window: from just before it to the next change (or a few seconds past the
    # session timeout), so that a change is never charged with the next one's cost.
    ends = [at for _, at in changes[1:]] + [changes[-1][1] + SESSION_TIMEOUT_MS / 1000 + 4]
    windows = {
        name: (at, min(end, at + SESSION_TIMEOUT_MS / 1000 + 4))
        for (name, at), end in zip(changes, ends, strict=True)
    }
    silences = {
        name: longest_silence(reader.arrivals, start - 0.5, end)
        for name, (start, end) in windows.items()
    }
    baseline = longest_silence(reader.arrivals, changes[0][1] - 4.5, changes[0][1] - 0.5)
    duplicates = sum(
        1 for copies in reader.result_copies.values() for r in copies if r["status"] == "duplicate"
    )
    p99_before = p99_latency(reader, scheduled, changes[0][1] - 4.5, changes[0][1] - 0.5)
    p99_during = {  # the commands due in the first 2 s of each change
        name: p99_latency(reader, scheduled, start, min(end, start + 2))
        for name, (start, end) in windows.items()
    }
    print(
        f"\nscale 1→3→1 at {RATE}/s, {len(messages)} messages: longest time a partition went"
        f" without results: before any change {baseline:.2f} s, "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in silences.items())
        + f"; p99 from due to result: before {p99_before * 1000:.0f} ms, "
        + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in p99_during.items())
        + f"; {replays} events replayed, {duplicates} duplicate results"
    )
    assert silences["second joins"] <= CHANGE_LIMIT_SECONDS + baseline
    assert silences["third joins"] <= CHANGE_LIMIT_SECONDS + baseline
    assert silences["SIGTERM"] <= CHANGE_LIMIT_SECONDS + baseline
    assert silences["SIGKILL"] <= SESSION_TIMEOUT_MS / 1000 + CHANGE_LIMIT_SECONDS + baseline
