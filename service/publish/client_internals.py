"""The three places where the service reaches past the public API of aiokafka and FastStream.

Each is written here once, with its reason, and `tests/unit/service/test_client_internals.py`
holds it to the pinned versions (`constraints.txt`: aiokafka 0.14.0, FastStream 0.7.8): an
upgrade that moves one of them fails that test instead of a stop or a poll in production.
"""

from __future__ import annotations

import asyncio
from itertools import chain
from types import MethodType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord


def abandon_pending_sends(producer: AIOKafkaProducer) -> None:
    """Make a `producer.stop()` that waits for the broker end now, dropping what it still holds.

    `stop()` waits until the accumulator is flushed or the sender task ends, and offers no
    timeout: against a broker that does not answer it waits forever. Ending the sender task is
    the one way to let it go on to close the connections. Nothing is lost: the rows of what is
    dropped were not marked sent, so the relay of the next instance publishes them."""
    producer._sender.sender_task.cancel()


async def close_connections(consumers: list[AIOKafkaConsumer]) -> None:
    """Close these consumers' connections while they are stopping.

    aiokafka lets a group join or rebalance in progress finish before a consumer leaves: up to
    the session timeout, longer on a broker holding the join, and `stop()` has no bound. With
    its connections closed the join fails and the stop completes at once; the broker drops the
    member when its session times out, as after a crash (no offset is lost)."""
    await asyncio.gather(*(c._client.close() for c in consumers), return_exceptions=True)


def poll_without_sleeping(subscriber: Any) -> None:
    """Make a FastStream batch subscriber return from an empty poll at once.

    FastStream's `BatchSubscriber.get_msg` sleeps another `batch_timeout_ms` after a poll that
    found nothing; the poll itself already waited that long for data, so the sleep only delays
    the next command by up to that long. Replaced by the same poll without the sleep."""

    async def get_msg(
        self: Any, consumer: AIOKafkaConsumer
    ) -> tuple[ConsumerRecord[Any, Any], ...]:
        batches = await consumer.getmany(
            timeout_ms=self.batch_timeout_ms, max_records=self.max_records
        )
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = MethodType(get_msg, subscriber)
