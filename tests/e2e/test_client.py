"""The package's Kafka client (`service.clients.client`) as another team would use it: a null
value (a tombstone, as program.delete publishes) on any topic it follows stops no reader and makes
a compacting view forget the key; a client following from the end sees only what comes after it
started; looking for a topic that does not exist does not create it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from service.clients.client import ServiceClient, partitions_of
from service.config import Settings
from tests.support.kafka import CommandClient
from tests.support.programs import build_program, new_id


async def test_tombstones_stop_no_reader_and_delete_their_key(
    client: CommandClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    await client.wait_consumed(pool)
    [squat] = [
        key
        for key, event in client.latest(client.topics.prescription_updated).items()
        if event["programExerciseId"] == ids["squat"]
    ]
    topics = client.topics
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topics.prescription_updated, None, key=squat.encode())
        await producer.send_and_wait(topics.session_updated, None, key=ids["session"].encode())
        await producer.send_and_wait(topics.command_results, None, key=new_id().encode())
        await producer.send_and_wait(topics.dead_letters, None, key=b"k")
    finally:
        await producer.stop()
    await client.wait_for(lambda: len(client.raw[topics.dead_letters]) == 1)

    assert squat not in client.latest(topics.prescription_updated)
    assert ids["session"] not in client.latest(topics.session_updated)
    assert all(
        event is not None for event in client.prescription_events() + client.session_events()
    )
    # The reader still runs: the next command's result and events arrive.
    result = await client.applied(
        "series.add", ids["program"], programExerciseId=ids["bench"], set={"reps": 3}
    )
    await client.events_of(result["commandId"], 1)


async def test_a_client_from_the_end_sees_only_what_follows_its_start(
    settings: Settings, client: CommandClient
) -> None:
    before = await client.applied("program.create", new_id(), name="Before")
    async with ServiceClient.of(settings, tenant_id="tenant-a") as late:
        after = await late.request(late.command("program.create", new_id(), name="After"))
        assert after["status"] == "applied"
        assert before["commandId"] not in late.results
        assert list(late.results) == [after["commandId"]]


async def test_looking_for_a_missing_topic_does_not_create_it(settings: Settings) -> None:
    """Brokers that auto-create topics create one that a metadata request names."""
    missing = f"{settings.topic_prefix}.nobody-creates-this"
    connection = {"bootstrap_servers": settings.kafka_bootstrap_servers}
    with pytest.raises(TimeoutError, match="nobody-creates-this"):
        await partitions_of(connection, [missing], timeout=1)
    await asyncio.sleep(0.5)
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()
