"""A Kafka client of the service, as another team would write it: it produces commands keyed by
their programId, follows the results, event and dead-letter topics from their beginning or their
end, and matches results to their commandId.

Only aiokafka's public API: a topic's partitions come from the admin client's metadata of every
topic, since a metadata request that names a missing topic makes a broker that auto-creates
topics create it. A record with a null value (a tombstone) is kept as such, never parsed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topics
from service.config import Settings
from service.publish.kafka import client_options

Document = dict[str, Any]
Headers = Sequence[tuple[str, bytes]]
Keyed = tuple[str | None, Document | None]
"""An event record: its key and its value, None for a tombstone (the key is deleted)."""


def new_command(kind: str, tenant_id: str, program_id: str, **fields: Any) -> Document:
    """A command document with a fresh commandId."""
    return {
        "commandId": str(uuid.uuid4()),
        "type": kind,
        "tenantId": tenant_id,
        "programId": program_id,
        **fields,
    }


def output_topics(topics: Topics) -> list[str]:
    """What the service publishes: results, the three event topics and dead letters."""
    return [
        topics.command_results,
        topics.prescription_updated,
        topics.session_updated,
        topics.program_updated,
        topics.dead_letters,
    ]


async def partitions_of(
    connection: Mapping[str, Any], topics: Iterable[str], timeout: float
) -> list[TopicPartition]:
    """Every partition of `topics`, once each of them exists with its partitions."""
    wanted = list(dict.fromkeys(topics))
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            # Every topic's metadata: naming the wanted ones could create them.
            known = {
                found["topic"]: found["partitions"]
                for found in await admin.describe_topics()
                if found["error_code"] == 0
                and found["partitions"]
                and all(p["error_code"] == 0 for p in found["partitions"])
            }
            missing = [topic for topic in wanted if topic not in known]
            if not missing:
                return [
                    TopicPartition(topic, partition["partition"])
                    for topic in wanted
                    for partition in known[topic]
                ]
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {missing} do not exist after {timeout:g} s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


class ServiceClient:
    """Sends commands and follows the service's output topics in a task of its own.

    It keeps the first result per commandId and every event record per topic in arrival order;
    a client that keeps more, or less, overrides `received`.
    """

    def __init__(
        self,
        topics: Topics,
        connection: Mapping[str, Any],
        *,
        tenant_id: str,
        from_beginning: bool = False,
        follow: Iterable[str] | None = None,
        producer: Mapping[str, Any] | None = None,
        consumer: Mapping[str, Any] | None = None,
        poll: Mapping[str, Any] | None = None,
        topic_timeout: float = 30,
    ) -> None:
        self.topics = topics
        self.tenant_id = tenant_id
        self.connection = dict(connection)
        self.follow = list(follow) if follow is not None else output_topics(topics)
        self.from_beginning = from_beginning
        self.topic_timeout = topic_timeout
        self.results: dict[str, Document] = {}
        self.events: dict[str, list[Keyed]] = defaultdict(list)
        self.producer = AIOKafkaProducer(**self.connection, **{"linger_ms": 0, **(producer or {})})
        self.consumer = AIOKafkaConsumer(
            **self.connection,
            **{"enable_auto_commit": False, "fetch_max_wait_ms": 20, **(consumer or {})},
        )
        self._poll = {"timeout_ms": 100, **(poll or {})}
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, settings: Settings, **options: Any) -> Self:
        """A client with the service's own connection and security settings."""
        return cls(settings.topics, client_options(settings), **options)

    # --- lifecycle

    async def start(self) -> None:
        """Connect, then wait (up to `topic_timeout`) for the followed topics to exist."""
        try:
            await self.producer.start()
            await self.consumer.start()
            partitions = await partitions_of(self.connection, self.follow, self.topic_timeout)
            self.consumer.assign(partitions)
            if self.from_beginning:
                await self.consumer.seek_to_beginning(*partitions)
            else:
                await self.consumer.seek_to_end(*partitions)
                for partition in partitions:  # resolve the end offsets now, before any send
                    await self.consumer.position(partition)
        except BaseException:
            await self.stop()
            raise
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.consumer.stop()
        await self.producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- reading

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(**self._poll)
            arrived = time.perf_counter()
            if not batches:
                continue
            async with self._changed:
                for records in batches.values():
                    for record in records:
                        self.received(record, self._value(record), arrived)
                self._changed.notify_all()

    def _value(self, record: Any) -> Document | None:
        if record.value is None or record.topic == self.topics.dead_letters:
            return None  # a tombstone, or a dead letter's original bytes
        value: Document = json.loads(record.value)
        return value

    def received(self, record: Any, value: Document | None, arrived: float) -> None:
        """Keep what one record says. `value` is its parsed JSON (None for a tombstone or a
        dead letter); `arrived` is `time.perf_counter()` when its batch arrived."""
        if record.topic == self.topics.command_results:
            if value is not None:
                self.results.setdefault(value["commandId"], value)
        elif record.topic != self.topics.dead_letters:
            key = record.key.decode() if record.key is not None else None
            self.events[record.topic].append((key, value))

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 20) -> None:
        """Until `predicate()` is true of what was received (TimeoutError after `timeout`)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def result(self, command_id: str, timeout: float = 20) -> Document:
        await self.wait_for(lambda: command_id in self.results, timeout)
        return self.results[command_id]

    def values(self, topic: str) -> list[Document]:
        """The events of `topic` in arrival order, tombstones left out."""
        return [value for _, value in self.events[topic] if value is not None]

    def latest(self, topic: str) -> dict[str, Document]:
        """What a consumer keeping the last value per key holds: a tombstone deletes its key."""
        kept: dict[str, Document] = {}
        for key, value in self.events[topic]:
            if key is None:
                continue
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value
        return kept

    # --- sending

    def command(self, kind: str, program_id: str, **fields: Any) -> Document:
        return new_command(kind, self.tenant_id, program_id, **fields)

    async def publish(
        self, value: bytes | None, key: bytes | None, headers: Headers | None = None
    ) -> None:
        """Any bytes to the commands topic, acknowledged by the broker on return."""
        await self.producer.send_and_wait(
            self.topics.commands, value, key=key, headers=list(headers) if headers else None
        )

    async def publish_all(self, messages: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """(key, value) pairs to the commands topic, in order and batched; all acknowledged."""
        pending = [
            await self.producer.send(self.topics.commands, value, key=key)
            for key, value in messages
        ]
        await asyncio.gather(*pending)

    async def send(
        self, command: Document, headers: Headers | None = None, *, key: str | None = None
    ) -> None:
        """Publish a command keyed by its `programId`, or by `key` (a copy's commands may travel
        on its template's key, so that a `program.sync` follows the template's commands)."""
        await self.publish(_encoded(command), (key or command["programId"]).encode(), headers)

    async def enqueue(self, command: Document) -> None:
        """Hand a command to the producer without waiting for the broker (see `flush`)."""
        await self.producer.send(
            self.topics.commands, _encoded(command), key=command["programId"].encode()
        )

    async def flush(self) -> None:
        await self.producer.flush()

    async def request(
        self, command: Document, timeout: float = 20, headers: Headers | None = None
    ) -> Document:
        """Send a command and wait for its result."""
        await self.send(command, headers)
        return await self.result(command["commandId"], timeout)


def _encoded(command: Document) -> bytes:
    return json.dumps(command).encode()
