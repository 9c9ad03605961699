"""Scale out as it is deployed: several service processes in one consumer group while a steady
open-loop stream flows (300 commands/s over 60 programs of three tenants, every command type the
model-based generator draws), scaled 1 → 3 → 1: two instances join, one is SIGKILLed in the
middle of its batches, one is SIGTERMed.

Afterwards every command has exactly one outcome, the one the domain core predicts; every program
is at the version a sequential replay reaches; every committed event reached the broker; the
latest event per key is the database's state; and per key, events go back in version only as an
at-least-once replay of a tail (the same bytes again), never as an older owner publishing after
a newer one. The figures (how long each change leaves partitions without results) are printed
for the note and bounded: a join or a SIGTERM at most 2 s, a SIGKILL at most the session timeout
+ 2 s."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from itertools import chain, pairwise, zip_longest
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from contracts.commands import COMMAND_TYPES
from service.config import Settings
from service.kafka import partition_for
from service.storage.database import create_pool
from tests.conftest import RunFactory
from tests.reliability.harness import scaled, wait_until
from tests.reliability.test_outages import assert_as_predicted
from tests.support.generator import CommandGenerator
from tests.support.kafka import CommandClient
from tests.support.programs import assert_events_reconstruct_database

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

RATE = 300
SECONDS = 36
SESSION_TIMEOUT_MS = 3000
CHANGE_LIMIT_SECONDS = 2.0


class Predicted:
    """The generators of several tenants seen as one (what `assert_as_predicted` reads)."""

    def __init__(self, generators: Sequence[CommandGenerator]) -> None:
        self.expected = {k: v for g in generators for k, v in g.expected.items()}
        self.model = type("Model", (), {"programs": {}})()
        for generator in generators:
            self.model.programs.update(generator.model.programs)


def stream(tenants: int, programs: int, count: int) -> tuple[list[Any], Predicted]:
    generators = [
        CommandGenerator(seed=3100 + n, programs=programs, tenant_id=f"tenant-scale-{n}")
        for n in range(tenants)
    ]
    per_tenant = [g.messages(count // tenants) for g in generators]
    drawn = set(chain.from_iterable(g.applied_types() for g in generators))
    assert drawn == COMMAND_TYPES, f"every command type: missing {COMMAND_TYPES - drawn}"
    mixed = [m for row in zip_longest(*per_tenant) for m in row if m is not None]
    return mixed, Predicted(generators)


async def paced(
    client: CommandClient, messages: list[Any], rate: int, go: asyncio.Event | None = None
) -> None:
    """Publish `messages` at `rate` per second, in 50 ms slots (an open loop: the service's
    pace does not slow the sending). While `go` is clear (a broker outage) the sending waits;
    a slot the broker did not acknowledge is sent again (a command sent twice is answered
    duplicate the second time)."""
    loop = asyncio.get_running_loop()
    per_slot = max(1, rate // 20)
    start = loop.time()
    for slot, first in enumerate(range(0, len(messages), per_slot)):
        while True:
            if go is not None:
                await go.wait()
            try:
                await client.publish_all(messages[first : first + per_slot])
                break
            except KafkaError:
                await asyncio.sleep(1)
        await asyncio.sleep(max(0.0, start + (slot + 1) * 0.05 - loop.time()))


class ResultTimes(CommandClient):
    """A reader that also notes when each result arrived, by the commands partition its command
    was on (the partition of its programId: the producers' partitioner is Kafka's murmur2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self.partitions = list(range(self.settings.topic_partitions))

    def received(self, record: Any, value: Any, arrived: float) -> None:
        if record.topic == self.topics.command_results and value and value.get("programId"):
            partition = partition_for(value["programId"].encode(), self.partitions, [])
            self.arrivals[partition].append(time.monotonic())
        super().received(record, value, arrived)


def longest_silence(arrivals: dict[int, list[float]], start: float, end: float) -> float:
    """The longest time a commands partition went without a result between `start` and `end`
    (while commands kept coming for it: the stream is steady over every partition)."""
    longest = 0.0
    for times in arrivals.values():
        inside = [start, *(t for t in times if start <= t <= end), end]
        longest = max(longest, *(b - a for a, b in pairwise(inside)))
    return longest


def assert_versions_go_back_only_as_replays(client: CommandClient) -> int:
    """Per key, an event whose programVersion is lower than one before it repeats, byte for
    byte, an event already published at that version (an at-least-once replay of a tail).
    Returns how many such replayed events there were."""
    replays = 0
    for topic in (
        client.topics.prescription_updated,
        client.topics.session_updated,
        client.topics.program_updated,
    ):
        seen: dict[tuple[bytes, int], bytes] = {}
        highest: dict[bytes, int] = {}
        for record in client.raw[topic]:
            if record.value is None:
                continue
            version = json.loads(record.value)["programVersion"]
            earlier = seen.setdefault((record.key, version), record.value)
            assert earlier == record.value, f"{topic} {record.key!r} v{version}: two contents"
            if version < highest.get(record.key, 0):
                replays += 1
            highest[record.key] = max(version, highest.get(record.key, 0))
    return replays


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
    first = run.start()
    await first.wait_for("program-builder ready", 90)
    settings = Settings(kafka_bootstrap_servers=run.bootstrap, topic_prefix=run.prefix)
    reader = ResultTimes(settings, topic_timeout=30)
    await reader.start()
    changes: list[tuple[str, float]] = []
    try:
        sending = asyncio.create_task(paced(reader, messages, RATE))
        await asyncio.sleep(5)
        joined = [run.start(), run.start()]
        changes.append(("two join", time.monotonic()))
        await asyncio.gather(*(p.wait_for("program-builder ready", 60) for p in joined))
        await asyncio.sleep(6)
        joined[0].kill()  # SIGKILL, with batches in flight: 300/s never leaves it idle
        changes.append(("SIGKILL", time.monotonic()))
        await asyncio.sleep(SESSION_TIMEOUT_MS / 1000 + 5)
        stopped = joined[1]
        changes.append(("SIGTERM", time.monotonic()))
        assert await asyncio.to_thread(stopped.terminate) == 0, run.output()
        await sending
        await wait_until(lambda: set(predicted.expected) <= reader.results.keys(), 120, "results")
        await assert_as_predicted(predicted, reader, database_url)  # type: ignore[arg-type]
        pool = await create_pool(database_url, 2, 30)
        try:
            await assert_events_reconstruct_database(reader, pool)
            committed = {
                (r["topic"], bytes(r["key"]), bytes(r["value"]))
                for r in await pool.fetch(
                    "SELECT topic, key, value FROM outbox"
                    " WHERE topic = ANY($1::text[]) AND value IS NOT NULL",
                    [
                        reader.topics.prescription_updated,
                        reader.topics.session_updated,
                        reader.topics.program_updated,
                    ],
                )
            }
        finally:
            await pool.close()
        published = {
            (topic, record.key, record.value)
            for topic in {t for t, _, _ in committed}
            for record in reader.raw[topic]
        }
        assert committed <= published, f"{len(committed - published)} events never published"
        replays = assert_versions_go_back_only_as_replays(reader)
        assert first.terminate() == 0, run.output()
    finally:
        await reader.stop()

    silences = {
        name: longest_silence(reader.arrivals, at - 0.5, at + SESSION_TIMEOUT_MS / 1000 + 4)
        for name, at in changes
    }
    baseline = longest_silence(reader.arrivals, changes[0][1] - 4.5, changes[0][1] - 0.5)
    duplicates = sum(
        1 for copies in reader.result_copies.values() for r in copies if r["status"] == "duplicate"
    )
    print(
        f"\nscale 1→3→1 at {RATE}/s, {len(messages)} messages: longest time a partition went"
        f" without results: before any change {baseline:.2f} s, "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in silences.items())
        + f"; {replays} events replayed, {duplicates} duplicate results"
    )
    assert silences["two join"] <= CHANGE_LIMIT_SECONDS + baseline
    assert silences["SIGTERM"] <= CHANGE_LIMIT_SECONDS + baseline
    assert silences["SIGKILL"] <= SESSION_TIMEOUT_MS / 1000 + CHANGE_LIMIT_SECONDS + baseline
