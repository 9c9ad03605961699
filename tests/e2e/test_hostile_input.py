"""Hostile input on the real broker and PostgreSQL: what one producer sends never holds back,
changes or reveals anything of anyone else's.

Each case runs beside control programs of another tenant, whose versions must not move, and the
consumer must answer every message (a result or a dead letter) and keep going. The rules
themselves are tested where they live: tests/unit/contracts/test_hostile_parsing.py (bytes to
command), tests/unit/service/test_hostile_messages.py (reply-to, dead-letter headers, reply
copies), tests/integration/test_hostile_inbox.py (commandIds across tenants)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from devstack.tansu import EmbeddedBroker
from service.config import Settings
from service.process.app import Service
from tests.support.infrastructure import Infrastructure
from tests.support.kafka import CommandClient
from tests.support.programs import build_program, new_id

USUAL_LATENCY_SECONDS = 3.0
"""What a command's result and events may take here, with room for a loaded CI box; a reply
copy that held the round would cost the producer's timeout (5 s) per poisoned round."""

REFUSED_REPLIES = "refused.replies"


async def control_versions(pool: asyncpg.Pool, tenant: str) -> dict[uuid.UUID, int]:
    return dict(await pool.fetch("SELECT id, version FROM programs WHERE tenant_id = $1", tenant))


@pytest.fixture
async def controls(
    client: CommandClient, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[dict[uuid.UUID, int]]:
    """Two programs of another tenant; after the test their versions are what they were."""
    async with CommandClient(settings, tenant_id="tenant-control") as other:
        for _ in range(2):
            await build_program(other, weeks=1)
    before = await control_versions(pool, "tenant-control")
    yield before
    assert await control_versions(pool, "tenant-control") == before


# --- reply-to: a topic that cannot be written never delays anyone else


@pytest.fixture
async def refusing_broker(infrastructure: Infrastructure, tmp_path: Path) -> AsyncIterator[str]:
    """A broker that refuses every record of `REFUSED_REPLIES`, for the reply topic that exists
    but cannot be written: on Kafka, the topic allows records of 64 bytes at most (no result
    is that small: MessageSizeTooLarge); on Tansu, a broker of its own whose schema registry
    holds a JSON Schema no result satisfies."""
    if infrastructure.kafka_kind != "tansu":
        admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap_servers)
        await admin.start()
        try:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(REFUSED_REPLIES, 1, 1, topic_configs={"max.message.bytes": "64"})]
                )
        finally:
            await admin.close()
        yield infrastructure.kafka_bootstrap_servers
        return
    (tmp_path / f"{REFUSED_REPLIES}.json").write_text(
        json.dumps({"type": "object", "required": ["value"], "properties": {"value": False}})
    )
    broker = EmbeddedBroker(schema_registry=tmp_path).start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


async def test_reply_topics_that_cannot_be_written_never_delay_other_results(
    refusing_broker: str, settings: Settings, pool: asyncpg.Pool
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": refusing_broker})
    fresh_replies = f"{settings.topic_prefix}.fresh-replies"
    service = Service(settings)
    await service.app.start()
    stopped = False
    try:
        async with CommandClient(settings, extra_topics=[]) as client:
            ids = await build_program(client, weeks=1)
            poison = {10: "..", 25: ".", 40: REFUSED_REPLIES, 55: ".."}
            sent: dict[str, float] = {}
            poisoned: list[str] = []
            for index in range(64):
                command = client.command(
                    "series.replace",
                    ids["program"],
                    programExerciseId=ids["squat"],
                    series=[{"reps": index % 20}],
                )
                sent[command["commandId"]] = time.perf_counter()
                await client.send(command)
                if index in poison:
                    hostile = client.command("program.create", new_id(), name=f"poison {index}")
                    poisoned.append(hostile["commandId"])
                    await client.send(hostile, headers=[("reply-to", poison[index].encode())])
            await client.wait_for(lambda: all(c in client.results for c in sent), 20)
            await client.events_of(next(iter(sent)), prescriptions=1)
            late = {
                command_id: round(client.arrival[command_id] - at, 3)
                for command_id, at in sent.items()
                if client.arrival[command_id] - at > USUAL_LATENCY_SECONDS
            }
            assert late == {}, f"results held back: {late}"
            assert all(r["status"] == "applied" for c in sent for r in [client.results[c]])
            # Every series.replace changed the squat's week-0 prescription: its events all arrived.
            versions = [
                e["version"]
                for e in client.prescription_events()
                if e["programExerciseId"] == ids["squat"] and e["causationId"] in sent
            ]
            assert len(versions) == 64 and versions == sorted(versions)

            # The poisoned commands were applied and answered once each on the results topic.
            await client.wait_for(lambda: all(c in client.results for c in poisoned), 10)
            await asyncio.sleep(0.5)
            assert {c: len(client.result_copies[c]) for c in poisoned} == dict.fromkeys(poisoned, 1)
            assert all(client.results[c]["status"] == "applied" for c in poisoned)

            # The first reply on a topic that did not exist arrives as fast as any result: the
            # service's first copy creates it, and the requester finds it as it appears.
            requester = CommandClient(settings, extra_topics=[fresh_replies], topic_timeout=20)
            joining = asyncio.create_task(requester.start())
            command = client.command("program.create", new_id(), name="Fresh reply topic")
            started = time.perf_counter()
            await client.send(command, headers=[("reply-to", fresh_replies.encode())])
            await joining
            try:
                copies = await _reply_copies(requester, fresh_replies, command["commandId"])
                first_reply_seconds = time.perf_counter() - started
            finally:
                await requester.stop()
            assert copies == 1
            assert first_reply_seconds < USUAL_LATENCY_SECONDS, first_reply_seconds

            process = service.running()
            assert process is not None
            await _wait(lambda: process.replies.in_flight == 0, 15)
            dropped = _samples(service, "program_builder_reply_copies_dropped_total")
            # `..` (twice) and `.` are ignored before they reach the outbox (not legal names);
            # the refused topic's copy is dropped once the broker says no.
            assert sum(dropped.values()) == 1, dropped
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM outbox WHERE topic = ANY($1::text[])", ["..", "."]
                )
                == 0
            )

        # A stop drains everything: nothing stays unsent, and it takes no longer than usual.
        started = time.perf_counter()
        await service.app.stop()
        stopped = True
        assert time.perf_counter() - started < 5
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    finally:
        if not stopped:
            await service.app.stop()
    print(f"\nfirst reply on a new topic after {first_reply_seconds * 1000:.0f} ms")


async def test_a_reply_topic_that_never_resolves_is_dropped_within_the_bound(
    settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name whose metadata never comes (a broker that refuses to create it) is dropped after
    the bound, and meanwhile every other result flows. `..` stands for it here: the service's
    filter is opened so that it reaches the real broker, which never resolves it."""
    monkeypatch.setattr("service.apply.wire.legal_topic_name", lambda name: True)
    settings = settings.model_copy(update={"reply_timeout_seconds": 1.0})
    service = Service(settings)
    await service.app.start()
    try:
        async with CommandClient(settings) as client:
            process = service.running()
            assert process is not None
            hostile = client.command("program.create", new_id(), name="Never resolves")
            await client.send(hostile, headers=[("reply-to", b"..")])
            started = time.perf_counter()
            normal = [client.command("program.create", new_id(), name=f"N{i}") for i in range(20)]
            for command in normal:
                await client.send(command)
            await client.wait_for(lambda: all(c["commandId"] in client.results for c in normal))
            assert time.perf_counter() - started < USUAL_LATENCY_SECONDS
            assert process.replies.in_flight == 1  # still waiting for `..`, holding no one
            await _wait(lambda: process.replies.in_flight == 0, 10)
            dropped = _samples(service, "program_builder_reply_copies_dropped_total")
            assert sum(dropped.values()) == 1, dropped
            assert set(dropped) <= {"timeout", "UnknownTopicOrPartitionError"}, dropped
            # Its topic is refused at once from now on.
            again = client.command("program.create", new_id(), name="Refused at once")
            await client.request(again, headers=[("reply-to", b"..")])
            await _wait(
                lambda: (
                    "refused" in _samples(service, "program_builder_reply_copies_dropped_total")
                ),
                5,
            )
            assert process.replies.in_flight == 0
    finally:
        await service.app.stop()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def _reply_copies(client: CommandClient, topic: str, command_id: str) -> int:
    await client.wait_for(lambda: _copies(client, topic, command_id) > 0, 20)
    return _copies(client, topic, command_id)


def _copies(client: CommandClient, topic: str, command_id: str) -> int:
    return sum(1 for record in client.raw[topic] if record.key == command_id.encode())


def _samples(service: Service, name: str) -> dict[str, float]:
    return {
        sample.labels.get("reason", ""): sample.value
        for metric in service.process.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == name
    }


async def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        assert time.perf_counter() < deadline
        await asyncio.sleep(0.05)


# --- tenants own their commandIds


async def test_another_tenants_command_id_is_a_conflict_that_reveals_nothing(
    client: CommandClient, settings: Settings, pool: asyncpg.Pool, controls: Any
) -> None:
    ids = await build_program(client, weeks=1)
    first = client.command("series.add", ids["program"], programExerciseId=ids["squat"])
    first["set"] = {"reps": 99999}  # rejected: its error must not reach the other tenant
    rejected = await client.request(first)
    assert rejected["status"] == "rejected"
    applied = await client.applied("program.update", ids["program"], name="Mine")

    async with CommandClient(settings, tenant_id="tenant-b") as other:
        for original in (first["commandId"], applied["commandId"]):
            program_id = new_id()
            reuse = other.command("program.create", program_id, name="Theirs")
            reuse["commandId"] = original
            await other.send(reuse)
            answer = await _next_result(other, original, program_id)
            assert answer == {
                "commandId": original,
                "type": "program.create",
                "programId": program_id,
                "status": "rejected",
                "programVersion": None,
                "error": {
                    "code": "conflict",
                    "message": answer["error"]["message"],
                    "details": [{"path": "commandId", "reason": "already used by another tenant"}],
                },
                "processedAt": answer["processedAt"],
                "sync": None,
            }
            assert "another tenant" in answer["error"]["message"]
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM programs WHERE id = $1", uuid.UUID(program_id)
                )
                == 0
            )

    # The first tenant's own retries still answer its first outcomes.
    for original, outcome in ((first, rejected), (None, applied)):
        command_id = outcome["commandId"]
        if original is not None:
            await client.send(original)
        else:
            retry = client.command("program.update", ids["program"], name="Mine")
            retry["commandId"] = command_id
            await client.send(retry)

        def duplicates(command_id: str = command_id) -> list[Any]:
            return [r for r in client.result_copies[command_id] if r["status"] == "duplicate"]

        await client.wait_for(duplicates)
        (duplicate,) = duplicates()
        assert duplicate["programId"] == ids["program"]
        assert duplicate["programVersion"] == outcome["programVersion"]
        assert duplicate["error"] == outcome["error"]


async def _next_result(client: CommandClient, command_id: str, program_id: str) -> Any:
    def answered() -> Any:
        return [r for r in client.result_copies[command_id] if r["programId"] == program_id]

    await client.wait_for(answered)
    return answered()[0]


# --- dead letters, numbers, encodings, headers, keys


async def test_dead_letter_headers_are_the_services_alone(
    client: CommandClient, controls: Any
) -> None:
    forged = [
        ("x-error-code", b"too_large"),
        ("x-error-message", b"forged"),
        ("x-original-topic", b"elsewhere"),
        ("x-original-partition", b"99"),
        ("x-original-offset", b"12345"),
        ("x-kept", b"mine"),
        ("x-error-code", b"twice"),
    ]
    await client.publish(b"not json at all", b"some-key", forged)
    await client.wait_for(lambda: len(client.raw[client.topics.dead_letters]) >= 1)
    (dead,) = client.raw[client.topics.dead_letters]
    assert dead.key == b"some-key" and dead.value == b"not json at all"
    headers = list(dead.headers)
    assert [value for name, value in headers if name == "x-error-code"] == [b"not_json"]
    assert [value for name, value in headers if name == "x-original-topic"] == [
        client.topics.commands.encode()
    ]
    assert ("x-kept", b"mine") in headers
    assert all(value not in (b"forged", b"99", b"12345", b"twice") for _, value in headers)


async def test_hostile_values_are_answered_precisely(client: CommandClient, controls: Any) -> None:
    ids = await build_program(client, weeks=1)
    add = client.command("series.add", ids["program"], programExerciseId=ids["squat"])

    huge = json.dumps({**add, "set": {"reps": 1}}).replace('"reps": 1', '"reps": ' + "9" * 5001)
    await client.publish(huge.encode(), ids["program"].encode())
    result = await client.result(add["commandId"])
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "validation_failed"
    assert [d["path"] for d in result["error"]["details"]] == ["set.reps"]

    surrogate = client.command("series.add", ids["program"], programExerciseId=ids["squat"])
    value = json.dumps({**surrogate, "set": {"notes": "QQ"}}).encode()
    await client.publish(value.replace(b"QQ", b"\xed\xa0\x80"), ids["program"].encode())
    await client.wait_for(lambda: len(client.raw[client.topics.dead_letters]) >= 1)
    (dead,) = client.raw[client.topics.dead_letters]
    assert dict(dead.headers)["x-error-code"] == b"not_json"
    assert surrogate["commandId"] not in client.results

    long_name = client.command("session.add", ids["program"], sessionId=new_id(), name="é" * 201)
    result = await client.request(long_name)
    assert result["error"]["code"] == "validation_failed"
    assert [d["path"] for d in result["error"]["details"]] == ["name"]


async def test_floods_of_headers_and_foreign_keys_change_nothing_else(
    client: CommandClient, controls: Any, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=1)
    version = await pool.fetchval(
        "SELECT version FROM programs WHERE id = $1", uuid.UUID(ids["program"])
    )
    flood = [(f"x-flood-{i}", b"v" * 10) for i in range(2000)]
    correlation = b"c" * 200_000
    command = client.command("program.update", ids["program"], name="Flooded")
    await client.send(command, headers=[*flood, ("correlation_id", correlation)])
    result = await client.result(command["commandId"])
    assert result["status"] == "applied"
    (record,) = [
        r
        for r in client.raw[client.topics.command_results]
        if r.key == command["commandId"].encode()
    ]
    assert dict(record.headers)["correlation_id"] == correlation

    # A key that is not the command's programId: the command still names its own program.
    other = client.command("program.update", ids["program"], name="Keyed elsewhere")
    await client.publish(json.dumps(other).encode(), b"someone-else")
    assert (await client.result(other["commandId"]))["programVersion"] == version + 2
    assert (
        await pool.fetchval("SELECT version FROM programs WHERE id = $1", uuid.UUID(ids["program"]))
        == version + 2
    )

    # Duplicate JSON keys: the last one counts, as in JavaScript's JSON.parse.
    twice = json.dumps(client.command("program.update", ids["program"], name="First"))
    twice = twice[:-1] + ', "name": "Last"}'
    command_id = json.loads(twice)["commandId"]
    await client.publish(twice.encode(), ids["program"].encode())
    assert (await client.result(command_id))["status"] == "applied"
    assert (
        await pool.fetchval("SELECT name FROM programs WHERE id = $1", uuid.UUID(ids["program"]))
        == "Last"
    )
