"""What the service relies on in aiokafka's rebalance, shown on the real broker (see
`consumer.DrainOnRevoke`): the group waits for a member's `on_partitions_revoked` before it
assigns the partitions again, so offsets the callback commits are kept and the next owner starts
from them; and once a partition is no longer assigned, committing it raises at once
(`IllegalStateError`), it never moves another owner's offset."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from tests.support.infrastructure import Infrastructure

pytestmark = pytest.mark.timeout(120)


class HoldingRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds the revoke until `release` is set, then commits `offset` for what was revoked."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.consumer: AIOKafkaConsumer | None = None
        self.revoking = asyncio.Event()
        self.release = asyncio.Event()
        self.committed: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not revoked:
            return
        self.revoking.set()
        await self.release.wait()
        assert self.consumer is not None
        await self.consumer.commit({tp: OffsetAndMetadata(self.offset, "") for tp in revoked})
        self.committed |= revoked

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


async def until(predicate: object, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, f"no {what} after {timeout} s"
        await asyncio.sleep(0.05)


async def test_the_group_waits_for_the_revoke_callback_and_keeps_what_it_commits(
    infrastructure: Infrastructure,
) -> None:
    bootstrap = infrastructure.kafka_bootstrap_servers
    topic, group = f"rebalance-{uuid.uuid4().hex[:8]}", f"rebalance-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition in (0, 1):
            for n in range(10):
                await producer.send_and_wait(topic, b"%d" % n, partition=partition)
    finally:
        await producer.stop()

    options = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 300,
    }
    holding = HoldingRevoke(offset=5)
    first = AIOKafkaConsumer(**options)
    holding.consumer = first
    first.subscribe([topic], listener=holding)
    second = AIOKafkaConsumer(**options)
    try:
        await first.start()
        await first.getmany(timeout_ms=3000)
        assert len(first.assignment()) == 2
        second.subscribe([topic])
        joining = asyncio.create_task(second.start())  # it returns once it has joined
        await asyncio.wait_for(holding.revoking.wait(), 15)
        await asyncio.sleep(2)  # held: the group must not have assigned anything meanwhile
        assert not joining.done(), "the second member joined while the first was revoking"
        assert second.assignment() == set(), "assigned while a member was still revoking"
        holding.release.set()
        await asyncio.wait_for(joining, 15)
        await until(second.assignment, 15, "assignment to the second member")
        moved = second.assignment()
        assert moved <= holding.committed
        for partition in moved:
            assert await second.committed(partition) == 5
        for partition in moved:
            assert await second.position(partition) == 5, "the next owner starts after them"
        assert not moved & first.assignment()
        with pytest.raises(IllegalStateError):
            await first.commit({next(iter(moved)): OffsetAndMetadata(9, "")})
        assert await second.committed(next(iter(moved))) == 5
    finally:
        await second.stop()
        await first.stop()
