"""The relay's record batches on the real broker: every message lands on the partition the Java
client's default partitioner picks for its key (murmur2), in order per partition, with its key,
value (tombstones too) and headers; a message too big for a batch goes out in its place."""

from __future__ import annotations

import random

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.clients.client import partitions_of
from service.config import Settings
from service.publish.kafka import create_producer, ensure_topics, murmur2, send_batched
from service.storage.outbox import OutgoingMessage


async def test_batched_messages_land_where_the_default_partitioner_puts_them_in_order(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    topics = [settings.topics.prescription_updated, settings.topics.session_updated]
    rng = random.Random(7)
    keys = [f"key-{n}".encode() for n in range(40)]
    messages = [
        OutgoingMessage(
            rng.choice(topics),
            rng.choice(keys),
            None if n % 97 == 0 else f"value-{n}".encode() * rng.randint(1, 400),
            (("n", str(n).encode()), ("trace", b"\x00\xff")),
        )
        for n in range(3000)
    ]
    big = OutgoingMessage(topics[0], keys[0], b"x" * (300 * 1024), (("n", b"big"),))
    messages.insert(1500, big)  # bigger than a batch (256 KiB): sent on its own, in its place
    producer = create_producer(settings)
    await producer.start()
    try:
        for delivered in await send_batched(producer, messages):
            await delivered
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, fetch_max_wait_ms=20
    )
    await consumer.start()
    try:
        connection = {"bootstrap_servers": settings.kafka_bootstrap_servers}
        partitions = await partitions_of(connection, topics, 10)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        received: dict[TopicPartition, list[tuple[bytes | None, bytes | None, list]]] = {}
        count = 0
        while count < len(messages):
            for partition, records in (await consumer.getmany(timeout_ms=1000)).items():
                received.setdefault(partition, []).extend(
                    (r.key, r.value, list(r.headers)) for r in records
                )
                count += len(records)
    finally:
        await consumer.stop()
    expected: dict[TopicPartition, list[tuple[bytes | None, bytes | None, list]]] = {}
    for message in messages:
        assert message.key is not None
        count_of = settings.topic_partitions
        partition = TopicPartition(message.topic, (murmur2(message.key) & 0x7FFFFFFF) % count_of)
        expected.setdefault(partition, []).append(
            (message.key, message.value, list(message.headers))
        )
    assert received == expected
