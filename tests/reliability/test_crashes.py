"""Nothing lost, nothing doubled, with processes killed for real.

The same seeded stream of mixed commands is applied twice: once by one service process left
alone (the reference), once by processes that are SIGKILLed at random moments and restarted.
Both runs must end with the same database, the same latest event per key, exactly one outcome
per commandId (the same as the reference's), and every committed event on the broker. (Several
instances at once, joining, killed and stopped while commands flow: `test_scale_out`.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.topics import Topics
from service.storage.database import create_pool
from tests.support.databases import database_state, scratch_database
from tests.support.generator import CommandGenerator, assert_everything_drawn
from tests.support.infrastructure import Infrastructure
from tests.support.runs import ServiceRun
from tests.support.scale import scaled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.reliability


class Run(ServiceRun):
    """One application of the stream: its own topics, consumer group and database, and a client
    that reads everything it publishes."""

    def __init__(
        self, infrastructure: Infrastructure, database_url: str, logs: Path, name: str
    ) -> None:
        bootstrap = infrastructure.kafka_bootstrap_servers
        super().__init__(bootstrap, database_url, logs / f"{name}.log", f"rel-{name}")
        self.reader = self.client()

    async def begin(self, messages: list[tuple[bytes, bytes]]) -> None:
        first = self.process()
        first.start()  # creates the topics
        await self.reader.start()
        await self.reader.publish_all(messages)

    def answered(self, command_ids: set[str]) -> bool:
        return command_ids <= self.reader.results.keys()

    async def finish(self, command_ids: set[str], timeout: float) -> dict[str, object]:
        await wait_until(lambda: self.answered(command_ids), timeout, f"results of {self.prefix}")
        pool = await create_pool(self.database_url, 2, 30)
        try:
            await self.reader.wait_consumed(pool, timeout, all_sent=True)
            state = await database_state(pool)
            committed = {
                (r["topic"], bytes(r["key"]), None if r["value"] is None else bytes(r["value"]))
                for r in await pool.fetch(
                    "SELECT topic, key, value FROM outbox WHERE topic = ANY($1::text[])",
                    event_topics(self.topics),
                )
            }
        finally:
            await pool.close()
        for process in self.processes:
            if process.alive():
                assert process.terminate() == 0, self.output()
        await self.reader.stop()
        published = {
            (topic, record.key, record.value)
            for topic in event_topics(self.topics)
            for record in self.reader.raw[topic]
        }
        missing = committed - published
        assert not missing, f"{len(missing)} committed events never reached the broker"
        return state


def assert_same_outcome(reference: Run, crashed: Run, command_ids: set[str]) -> None:
    ref, got = reference.reader, crashed.reader
    for command_id in command_ids:
        outcome = got.outcomes_of(command_id)
        assert len(outcome) == 1, (command_id, got.result_copies[command_id])
        assert outcome == ref.outcomes_of(command_id), command_id
    for topic in event_topics(reference.topics):
        crashed_topic = topic.replace(reference.prefix, crashed.prefix)
        assert timeless(got.latest(crashed_topic)) == timeless(ref.latest(topic))


def event_topics(topics: Topics) -> list[str]:
    return [topics.prescription_updated, topics.session_updated, topics.program_updated]


def timeless(latest: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The events without `occurredAt`, which differs between runs."""
    return {key: {f: v for f, v in e.items() if f != "occurredAt"} for key, e in latest.items()}


Stream = tuple[list[tuple[bytes, bytes]], set[str]]


@pytest.fixture(scope="module")
def stream() -> Stream:
    generator = CommandGenerator(seed=20261125, programs=scaled(200), tenant_id="tenant-r")
    messages = generator.messages(scaled(20_000))
    assert_everything_drawn([generator])  # every command type and feature
    return messages, set(generator.expected)


@pytest.fixture(scope="module")
async def reference(
    infrastructure: Infrastructure,
    postgres_server: tuple[str, str],
    template_database: str,
    stream: Stream,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Run, dict[str, object]]]:
    """The stream applied by one service process that nobody disturbs."""
    async with scratch_database(postgres_server[0], "pb_reference", template_database) as url:
        run = Run(infrastructure, url, tmp_path_factory.mktemp("reference"), "reference")
        messages, command_ids = stream
        await run.begin(messages)
        yield run, await run.finish(command_ids, 300)


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    infrastructure: Infrastructure,
    new_database: Callable[[], Awaitable[str]],
    stream: Stream,
    reference: tuple[Run, dict[str, object]],
    tmp_path: Path,
) -> None:
    messages, command_ids = stream
    reference_run, expected = reference

    crashed = Run(infrastructure, await new_database(), tmp_path, "crashed")
    await crashed.begin(messages)
    rng = random.Random(7)
    kills = 0
    for _ in range(10):
        # Kill while it works: once this process has answered something, at a random moment.
        answered = len(crashed.reader.results)
        await wait_until(
            lambda before=answered: len(crashed.reader.results) > before,
            60,
            "progress after a restart",
        )
        await asyncio.sleep(rng.uniform(0, 1.0))
        if crashed.answered(command_ids):
            break
        crashed.processes[-1].kill()
        kills += 1
        crashed.process().start()
    state = await crashed.finish(command_ids, 300)

    assert state == expected
    assert_same_outcome(reference_run, crashed, command_ids)
    answered_after_kill = len(crashed.reader.results)
    print(  # the figures for the note (pytest -s)
        f"\ncrash run: {len(messages)} messages, {len(command_ids)} commands, {kills} SIGKILLs, "
        f"{len(crashed.reader.raw[crashed.topics.dead_letters])} dead letters, "
        f"{answered_after_kill} answered"
    )
    assert kills >= 10
