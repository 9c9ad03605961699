"""A test client that talks to the service only through Kafka, as another team's service would."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Self

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import Topics
from service.config import Settings


async def assign_from_beginning(
    consumer: AIOKafkaConsumer, topics: list[str], timeout: float
) -> None:
    """Assign every partition of `topics` (waiting for them to exist) from offset 0."""
    partitions = []
    for topic in topics:
        for _ in range(int(timeout * 10)):
            found = consumer.partitions_for_topic(topic)
            if found:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"topic {topic} does not exist after {timeout} s")
        partitions += [TopicPartition(topic, p) for p in found]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)


async def wait_consumed(
    pool: asyncpg.Pool,
    events: Mapping[str, list[Any]],
    topics: Topics,
    timeout: float,
    *,
    all_sent: bool = False,
) -> None:
    """Until `events` (topic -> what a reader consumed) holds as many messages of each event
    topic as the service committed to its outbox; with `all_sent`, also no unsent row is left."""
    event_topics = [topics.prescription_updated, topics.session_updated, topics.program_updated]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        unsent = (
            await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            if all_sent
            else 0
        )
        committed = dict(
            await pool.fetch(
                "SELECT topic, count(*) FROM outbox WHERE topic = ANY($1::text[]) GROUP BY topic",
                event_topics,
            )
        )
        if unsent == 0 and all(len(events[t]) >= committed.get(t, 0) for t in event_topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            consumed = {t: len(events[t]) for t in event_topics}
            raise AssertionError(
                f"outbox: {unsent} unsent; events committed {committed}, consumed {consumed}"
            )
        await asyncio.sleep(0.1)


TOMBSTONE = "tombstone"


def tombstone(key: bytes | None) -> dict[str, Any]:
    """How a reader here records a null value: the key whose state is gone."""
    return {TOMBSTONE: (key or b"").decode()}


def is_tombstone(event: dict[str, Any]) -> bool:
    return TOMBSTONE in event


class CommandClient:
    """Produces commands; reads results and events from the beginning of the service's topics."""

    def __init__(self, settings: Settings, tenant_id: str = "tenant-a") -> None:
        self.settings = settings
        self.topics = settings.topics
        self.tenant_id = tenant_id
        self.results: dict[str, dict[str, Any]] = {}
        self.result_copies: dict[str, int] = defaultdict(int)
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)  # topic -> values
        self.raw: dict[str, list[Any]] = defaultdict(list)  # topic -> ConsumerRecords
        self._changed = asyncio.Condition()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=0
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self._reader: asyncio.Task[None] | None = None
        self.extra_topics: list[str] = []

    async def __aenter__(self) -> Self:
        await self._producer.start()
        await self._consumer.start()
        await self._assign(
            [
                self.topics.command_results,
                self.topics.prescription_updated,
                self.topics.session_updated,
                self.topics.program_updated,
                self.topics.dead_letters,
                *self.extra_topics,
            ]
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _assign(self, topics: list[str]) -> None:
        await assign_from_beginning(self._consumer, topics, timeout=5)

    async def __aexit__(self, *exc: object) -> None:
        if self._reader:
            self._reader.cancel()
        await self._consumer.stop()
        await self._producer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            if not batches:
                continue
            async with self._changed:
                for records in batches.values():
                    for record in records:
                        self.raw[record.topic].append(record)
                        if record.topic == self.topics.dead_letters:
                            continue
                        if record.value is None:  # a tombstone: the key is gone
                            self.events[record.topic].append(tombstone(record.key))
                            continue
                        value = json.loads(record.value)
                        if record.topic == self.topics.command_results:
                            self.results.setdefault(value["commandId"], value)
                            self.result_copies[value["commandId"]] += 1
                        else:
                            self.events[record.topic].append(value)
                self._changed.notify_all()

    # --- sending

    def command(self, kind: str, program_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "commandId": str(uuid.uuid4()),
            "type": kind,
            "tenantId": self.tenant_id,
            "programId": program_id,
            **fields,
        }

    async def publish(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._producer.send_and_wait(self.topics.commands, value, key=key, headers=headers)

    async def send(
        self, command: dict[str, Any], headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self.publish(json.dumps(command).encode(), command["programId"].encode(), headers)

    async def request(
        self,
        command: dict[str, Any],
        timeout: float = 20,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Send a command and wait for its result."""
        await self.send(command, headers)
        return await self.result(command["commandId"], timeout)

    async def run(self, kind: str, program_id: str, **fields: Any) -> dict[str, Any]:
        return await self.request(self.command(kind, program_id, **fields))

    async def applied(self, kind: str, program_id: str, **fields: Any) -> dict[str, Any]:
        result = await self.run(kind, program_id, **fields)
        assert result["status"] == "applied", result
        return result

    # --- waiting

    async def wait_for(self, predicate: Any, timeout: float = 20) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def result(self, command_id: str, timeout: float = 20) -> dict[str, Any]:
        await self.wait_for(lambda: command_id in self.results, timeout)
        return self.results[command_id]

    def prescription_events(self, causation_id: str | None = None) -> list[dict[str, Any]]:
        events = self.events[self.topics.prescription_updated]
        return [e for e in events if causation_id in (None, e.get("causationId"))]

    def program_events(self, causation_id: str | None = None) -> list[dict[str, Any]]:
        events = self.events[self.topics.program_updated]
        return [e for e in events if causation_id in (None, e.get("causationId"))]

    def session_events(self, causation_id: str | None = None) -> list[dict[str, Any]]:
        events = self.events[self.topics.session_updated]
        return [e for e in events if causation_id in (None, e.get("causationId"))]

    async def events_of(
        self, command_id: str, prescriptions: int, sessions: int = 0, timeout: float = 20
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Wait until the command's events arrived (at least these counts) and return them."""
        await self.wait_for(
            lambda: (
                len(self.prescription_events(command_id)) >= prescriptions
                and len(self.session_events(command_id)) >= sessions
            ),
            timeout,
        )
        return self.prescription_events(command_id), self.session_events(command_id)

    def latest(self, topic: str, key_field: str) -> dict[str, dict[str, Any]]:
        """What a compacting consumer keeps: the last event per key (none after a tombstone)."""
        latest: dict[str, dict[str, Any]] = {}
        for event in self.events[topic]:
            if is_tombstone(event):
                latest.pop(event[TOMBSTONE], None)
            else:
                latest[event[key_field]] = event
        return latest
