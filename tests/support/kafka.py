"""The tests' Kafka client: the package's client of the service, reading every output topic from
its beginning and keeping every record, with the waits and views the tests share."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from service.clients.client import Document, ServiceClient, output_topics
from service.config import Settings
from service.publish.kafka import client_options


class CommandClient(ServiceClient):
    """Keeps every record (`raw`, per topic) and every copy of every result (`result_copies`)."""

    def __init__(
        self,
        settings: Settings,
        tenant_id: str = "tenant-a",
        *,
        extra_topics: Sequence[str] = (),
        topic_timeout: float = 5,
        producer: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            settings.topics,
            client_options(settings),  # the service's security settings too
            tenant_id=tenant_id,
            from_beginning=True,
            follow=[*output_topics(settings.topics), *extra_topics],
            consumer={"max_partition_fetch_bytes": 4 * 1024 * 1024},
            producer=producer,
            topic_timeout=topic_timeout,
        )
        self.settings = settings
        self.extra_topics = list(extra_topics)
        self.raw: dict[str, list[Any]] = defaultdict(list)  # topic -> ConsumerRecords
        self.result_copies: dict[str, list[Document]] = defaultdict(list)
        self.arrival: dict[str, float] = {}  # commandId -> when its first result arrived

    def received(self, record: Any, value: Document | None, arrived: float) -> None:
        self.raw[record.topic].append(record)
        if record.topic == self.topics.command_results and value is not None:
            self.result_copies[value["commandId"]].append(value)
            self.arrival.setdefault(value["commandId"], arrived)
        super().received(record, value, arrived)

    # --- sending

    async def run(self, kind: str, program_id: str, **fields: Any) -> Document:
        return await self.request(self.command(kind, program_id, **fields))

    async def applied(self, kind: str, program_id: str, **fields: Any) -> Document:
        result = await self.run(kind, program_id, **fields)
        assert result["status"] == "applied", result
        return result

    # --- what came back

    def prescription_events(self, causation_id: str | None = None) -> list[Document]:
        events = self.values(self.topics.prescription_updated)
        return [e for e in events if causation_id is None or e["causationId"] == causation_id]

    def program_events(self, causation_id: str | None = None) -> list[Document]:
        events = self.values(self.topics.program_updated)
        return [e for e in events if causation_id is None or e["causationId"] == causation_id]

    def session_events(self, causation_id: str | None = None) -> list[Document]:
        events = self.values(self.topics.session_updated)
        return [e for e in events if causation_id is None or e["causationId"] == causation_id]

    async def events_of(
        self, command_id: str, prescriptions: int, sessions: int = 0, timeout: float = 20
    ) -> tuple[list[Document], list[Document]]:
        """Wait until the command's events arrived (at least these counts) and return them."""
        await self.wait_for(
            lambda: (
                len(self.prescription_events(command_id)) >= prescriptions
                and len(self.session_events(command_id)) >= sessions
            ),
            timeout,
        )
        return self.prescription_events(command_id), self.session_events(command_id)

    def outcomes_of(self, command_id: str) -> set[tuple[Any, ...]]:
        """The distinct outcomes other than `duplicate` (identical redeliveries count once)."""
        return {
            (r["status"], r["programVersion"], json.dumps(r["error"], sort_keys=True))
            for r in self.result_copies[command_id]
            if r["status"] != "duplicate"
        }

    async def wait_consumed(
        self, pool: asyncpg.Pool, timeout: float = 30, *, all_sent: bool = False
    ) -> None:
        """Until this client holds as many records of each event topic as the service committed
        to its outbox; with `all_sent`, also until no unsent outbox row is left."""
        event_topics = [
            self.topics.prescription_updated,
            self.topics.session_updated,
            self.topics.program_updated,
        ]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            unsent = (
                await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                if all_sent
                else 0
            )
            committed = dict(
                await pool.fetch(
                    """SELECT topic, count(*) FROM outbox WHERE topic = ANY($1::text[])
                       GROUP BY topic""",
                    event_topics,
                )
            )
            if unsent == 0 and all(len(self.raw[t]) >= committed.get(t, 0) for t in event_topics):
                return
            if asyncio.get_running_loop().time() > deadline:
                consumed = {t: len(self.raw[t]) for t in event_topics}
                raise AssertionError(
                    f"outbox: {unsent} unsent; events committed {committed}, consumed {consumed}"
                )
            await asyncio.sleep(0.1)


async def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
    """(key, value) pairs to `topic`, batched, every one acknowledged; no consumer, so the topic
    need not exist yet (the broker creates it on first use)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
