"""The internals of aiokafka and FastStream that `service.publish.client_internals` relies on are
still there, and still needed, in the versions `constraints.txt` pins. No broker: the clients are
built, never started."""

from __future__ import annotations

import asyncio
import inspect
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber import usecase

from service.publish.client_internals import poll_without_sleeping

CONSTRAINTS = Path(__file__).resolve().parents[3] / "constraints.txt"


@pytest.mark.parametrize("package", ["aiokafka", "faststream"])
def test_the_installed_versions_are_the_pinned_ones(package: str) -> None:
    pinned = re.search(rf"^{package}==(\S+)$", CONSTRAINTS.read_text(), re.MULTILINE)
    assert pinned is not None, f"{package} is pinned in constraints.txt"
    assert version(package) == pinned.group(1), (
        f"{package} {version(package)} is installed, the internals were read on "
        f"{pinned.group(1)}: read service/publish/client_internals.py against the new version"
    )


async def test_a_producer_has_the_sender_task_its_stop_waits_for() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    assert hasattr(producer._sender, "sender_task")
    assert "self._sender.sender_task" in inspect.getsource(AIOKafkaProducer.stop), (
        "stop() still waits on the sender task, so ending it ends the wait"
    )
    await producer.client.close()


async def test_a_consumer_has_the_client_whose_connections_are_closed() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    assert inspect.iscoroutinefunction(consumer._client.close)
    await consumer._client.close()


class _EmptyPolls:
    """An aiokafka consumer whose every poll finds nothing, at once."""

    polls = 0

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[Any, Any]:
        self.polls += 1
        return {}


def _batch_subscriber() -> Any:
    return KafkaBroker().subscriber("t", batch=True, batch_timeout_ms=5_000, max_records=10)


async def test_faststream_still_sleeps_after_an_empty_poll_and_the_replacement_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(usecase.anyio, "sleep", recorded_sleep)
    subscriber = _batch_subscriber()
    consumer = _EmptyPolls()
    assert await subscriber.get_msg(consumer) == ()
    assert sleeps == [5.0], "FastStream sleeps a batch timeout after an empty poll"

    poll_without_sleeping(subscriber)
    assert await asyncio.wait_for(subscriber.get_msg(consumer), 1) == ()
    assert sleeps == [5.0], "the replacement returns at once"
    assert consumer.polls == 2
