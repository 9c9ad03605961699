"""Commands flowing while a test changes the group or breaks the broker: a mixed stream of
several tenants with its predicted outcomes, an open-loop sender, a reader that notes when each
commands partition got its results, and the checks that must hold afterwards (each command
answered as predicted, the database and the published events consistent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise, zip_longest
from typing import Any

from aiokafka.errors import KafkaError

from service.config import Settings
from service.publish.kafka import partition_for
from service.storage.database import create_pool
from tests.support.generator import CommandGenerator, assert_everything_drawn
from tests.support.kafka import CommandClient
from tests.support.process import ServiceProcess
from tests.support.programs import assert_events_reconstruct_database
from tests.support.runs import ServiceRun
from tests.support.waiting import NotYet, wait_until


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
    assert_everything_drawn(generators)  # every command type and feature, over all tenants
    mixed = [m for row in zip_longest(*per_tenant) for m in row if m is not None]
    return mixed, Predicted(generators)


async def paced(
    client: CommandClient,
    messages: list[Any],
    rate: int,
    go: asyncio.Event | None = None,
    scheduled: dict[str, float] | None = None,
) -> None:
    """Publish `messages` at `rate` per second, in 50 ms slots (an open loop: the service's
    pace does not slow the sending), noting in `scheduled` when each command was due (its
    latency counts from then, so a stall cannot hide its queue). While `go` is clear (a broker
    outage) the sending waits; a slot the broker did not acknowledge is sent again (a command
    sent twice is answered duplicate the second time)."""
    per_slot = max(1, rate // 20)
    start = time.perf_counter()
    for slot, first in enumerate(range(0, len(messages), per_slot)):
        chunk = messages[first : first + per_slot]
        if scheduled is not None:
            for _, value in chunk:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    scheduled.setdefault(json.loads(value)["commandId"], start + slot * 0.05)
        while True:
            if go is not None:
                await go.wait()
            try:
                await client.publish_all(chunk)
                break
            except KafkaError:
                await asyncio.sleep(1)
        await asyncio.sleep(max(0.0, start + (slot + 1) * 0.05 - time.perf_counter()))


def p99_latency(
    reader: CommandClient, scheduled: dict[str, float], start: float, end: float
) -> float:
    """The p99, in seconds, of the time from when a command was due to its first result, for
    the commands due between `start` and `end`."""
    latencies = sorted(
        reader.arrival[command] - due
        for command, due in scheduled.items()
        if start <= due < end and command in reader.arrival
    )
    return latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0


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
            self.arrivals[partition].append(time.perf_counter())
        super().received(record, value, arrived)


def longest_silence(arrivals: dict[int, list[float]], start: float, end: float) -> float:
    """The longest time a commands partition went without a result between `start` and `end`
    (while commands kept coming for it: the stream is steady over every partition)."""
    longest = 0.0
    for times in arrivals.values():
        inside = [start, *(t for t in times if start <= t <= end), end]
        longest = max(longest, *(b - a for a, b in pairwise(inside)))
    return longest


ENVELOPE = ("eventId", "occurredAt", "causationId")
"""What differs between two announcements of one state (`program.republish` announces the same
version again under another command): left out when comparing contents."""


def assert_versions_go_back_only_as_replays(client: CommandClient) -> int:
    """Per key, an event whose programVersion is lower than one before it repeats the content
    of an event already published at that version (an at-least-once replay of a tail, or a
    republish), never a content that version never had. Returns how many went back."""
    replays = 0
    for topic in (
        client.topics.prescription_updated,
        client.topics.session_updated,
        client.topics.program_updated,
    ):
        seen: dict[tuple[bytes, int], dict[str, Any]] = {}
        highest: dict[bytes, int] = {}
        for record in client.raw[topic]:
            if record.value is None:
                continue
            event = json.loads(record.value)
            content = {k: v for k, v in event.items() if k not in ENVELOPE}
            version = event["programVersion"]
            earlier = seen.setdefault((record.key, version), content)
            assert earlier == content, f"{topic} {record.key!r} v{version}: two contents"
            if version < highest.get(record.key, 0):
                replays += 1
            highest[record.key] = max(version, highest.get(record.key, 0))
    return replays


async def assert_as_predicted(
    builder: CommandGenerator, reader: CommandClient, database_url: str
) -> None:
    """Every command answered once, as the domain core decided; programs at the versions the
    domain core reached; the events all relayed."""
    for command_id, expected in builder.expected.items():
        assert reader.outcomes_of(command_id) and {
            status for status, _, _ in reader.outcomes_of(command_id)
        } == {expected}, (command_id, reader.result_copies[command_id])
    pool = await create_pool(database_url, 2, 30)
    try:
        versions = dict(await pool.fetch("SELECT id, version FROM programs"))
        assert versions == {
            program_id: program.version for program_id, program in builder.model.programs.items()
        }
        assert await pool.fetchval("SELECT count(*) FROM inbox") == len(builder.expected)
        await reader.wait_consumed(pool, 60, all_sent=True)
    finally:
        await pool.close()


async def started_with_reader(run: ServiceRun) -> tuple[ServiceProcess, ResultTimes]:
    """The run's first process, ready, and a reader of everything its topics carry."""
    process = run.start()
    await process.wait_for("program-builder ready", 90)
    reader = ResultTimes(
        Settings(kafka_bootstrap_servers=run.bootstrap, topic_prefix=run.prefix),
        topic_timeout=30,
        # A command the broker acknowledged must survive its leader's death, as the service's
        # own results and events do: the default (acks=1) loses what the leader had not copied.
        producer={"acks": "all", "enable_idempotence": True},
    )
    await reader.start()
    return process, reader


async def assert_consistent(predicted: Predicted, reader: ResultTimes, database_url: str) -> int:
    """Once every command is answered: each as predicted, once; programs at the sequential
    replay's versions; the latest event per key equal to the database; every committed event
    published; versions going back per key only as replays (their count is returned)."""
    try:
        await wait_until(lambda: set(predicted.expected) <= reader.results.keys(), 180, "results")
    except NotYet:
        missing = set(predicted.expected) - reader.results.keys()
        pool = await create_pool(database_url, 1, 30)
        try:
            answered = await pool.fetchval(
                "SELECT count(*) FROM inbox WHERE command_id = ANY($1::uuid[])", list(missing)
            )
            unsent = await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        finally:
            await pool.close()
        raise AssertionError(
            f"{len(missing)} commands without a result: {answered} of them in the inbox, "
            f"{unsent} outbox rows unsent"
        ) from None
    await assert_as_predicted(predicted, reader, database_url)  # type: ignore[arg-type]
    topics = [
        reader.topics.prescription_updated,
        reader.topics.session_updated,
        reader.topics.program_updated,
    ]
    pool = await create_pool(database_url, 2, 30)
    try:
        await assert_events_reconstruct_database(reader, pool)
        committed = {
            (r["topic"], bytes(r["key"]), bytes(r["value"]))
            for r in await pool.fetch(
                "SELECT topic, key, value FROM outbox"
                " WHERE topic = ANY($1::text[]) AND value IS NOT NULL",
                topics,
            )
        }
    finally:
        await pool.close()
    published = {(topic, r.key, r.value) for topic in topics for r in reader.raw[topic]}
    assert committed <= published, f"{len(committed - published)} events never published"
    return assert_versions_go_back_only_as_replays(reader)
