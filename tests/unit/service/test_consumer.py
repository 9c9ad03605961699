"""The Kafka entry point's wiring without a broker (FastStream's test broker): the handler gets
every record as the original bytes and headers, acks only what was committed, and leaves a
batch unacked when the service stops during its retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import TestKafkaBroker
from faststream.kafka.message import KafkaAckableMessage

from service.apply.outcomes import Outcome
from service.apply.wire import Record
from service.config import Settings
from service.consume.consumer import (
    ACK_GRACE_SECONDS,
    batches_of,
    build_broker,
    subscribe_commands,
)
from service.consume.pipeline import Pipeline
from service.process.context import InFlight
from service.process.metrics import Metrics
from service.retry import Stopped


@dataclass
class FakeProcessor:
    stop: bool = False
    stop_after_commit: bool = False
    batches: list[list[Record]] = field(default_factory=list)

    async def process_overlapping(
        self,
        records: list[Record],
        stopping: asyncio.Event,
        before: object,
        decided: Callable[[frozenset[UUID] | None], None],
    ) -> list[Outcome]:
        decided(frozenset())
        self.batches.append(records)
        if self.stop:
            raise Stopped
        if self.stop_after_commit:  # the stop comes while the batch's offsets are committed
            stopping.set()
        return [Outcome(None, "", None, "dead_letter", "not_json", 0) for _ in records]


@dataclass
class FakeProcess:
    processor: FakeProcessor
    metrics: Metrics = field(default_factory=Metrics)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: InFlight = field(default_factory=InFlight)
    settings: Settings = field(default_factory=lambda: Settings(_env_file=None))
    pipelines: dict[int, Pipeline] = field(default_factory=dict)

    def pipeline(self, member: int) -> Pipeline:
        if member not in self.pipelines:
            self.pipelines[member] = Pipeline(self.processor, self.stopping, self.in_flight)  # type: ignore[arg-type]
        return self.pipelines[member]


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    async def ack(self: KafkaAckableMessage) -> None:
        calls.append(1)

    monkeypatch.setattr(KafkaAckableMessage, "ack", ack)
    return calls


async def deliver(processor: FakeProcessor, value: bytes, headers: dict[str, Any]) -> FakeProcess:
    settings = Settings(_env_file=None, topic_prefix="unit")
    broker = build_broker(settings, Metrics().registry)
    process = FakeProcess(processor)
    subscribe_commands(broker, settings, lambda: process)  # type: ignore[arg-type,return-value]
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(value, settings.topics.commands, key=b"program", headers=headers)
    return process


async def test_the_handler_gets_the_original_bytes_and_headers_and_acks(acks: list[int]) -> None:
    processor = FakeProcessor()
    broken = b'{"commandId": '  # JSON that FastStream would fail to decode
    await deliver(processor, broken, {"content-type": "application/json", "reply-to": "r"})
    [[record]] = processor.batches
    assert (record.topic, record.key, record.value) == ("unit.commands", b"program", broken)
    assert ("reply-to", b"r") in record.headers
    assert acks == [1]


async def test_a_batch_given_up_at_a_stop_is_not_acked(acks: list[int]) -> None:
    processor = FakeProcessor(stop=True)
    await deliver(processor, b"{}", {})
    assert len(processor.batches) == 1
    assert acks == []


async def test_a_stop_does_not_wait_for_an_offset_commit_the_broker_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch committed, then the broker went away: its offset commit hangs. At a stop the
    handler gives it ACK_GRACE_SECONDS and returns (the batch will be redelivered and answered
    duplicate) instead of being cancelled inside the commit."""
    held: list[int] = []

    async def hanging_ack(self: KafkaAckableMessage) -> None:
        held.append(1)
        await asyncio.Event().wait()

    monkeypatch.setattr(KafkaAckableMessage, "ack", hanging_ack)
    processor = FakeProcessor(stop_after_commit=True)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(deliver(processor, b"{}", {}), 5)
    assert held == [1]
    assert asyncio.get_running_loop().time() - started < ACK_GRACE_SECONDS + 2


def test_a_fetch_is_cut_into_batches_of_at_most_the_byte_budget_in_order() -> None:
    def raw(offset: int, size: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", 0, offset, 0, 0, None, b"x" * size, None, size, 0, [])

    raws = [raw(0, 40), raw(1, 50), raw(2, 20), raw(3, 150), raw(4, 10), raw(5, 0)]
    cut = batches_of(raws, 100)
    assert [[r.offset for r in batch] for batch in cut] == [[0, 1], [2], [3], [4, 5]]
    assert batches_of([], 100) == []
    assert [len(b) for b in batches_of(raws, 10_000)] == [6]


def test_several_bootstrap_servers_reach_the_client_as_several_hosts() -> None:
    """FastStream wraps a string in a list, and aiokafka then reads `a:1,b:2` as one host that
    never resolves: a cluster's bootstrap list must arrive as a list."""
    from service.config import Settings
    from service.consume.consumer import build_broker
    from service.process.metrics import Metrics

    settings = Settings(kafka_bootstrap_servers="kafka-1:9092, kafka-2:9092,kafka-3:9092")
    broker = build_broker(settings, Metrics().registry)
    assert broker._connection_kwargs["bootstrap_servers"] == [
        "kafka-1:9092",
        "kafka-2:9092",
        "kafka-3:9092",
    ]
