"""The relay's answer to an idempotent producer the broker no longer knows (after a cluster's
unclean restart every send fails OutOfOrderSequenceNumber, and aiokafka keeps its sequence
numbers): a new producer, started once however many rounds failed, the old one stopped; the
rows stay unsent for the round that follows, which goes out on the new producer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from service.publish.relay import OutboxRelay
from service.storage.outbox import ClaimedMessage, OutgoingMessage


class _Batch:
    def __init__(self) -> None:
        self.count = 0

    def append(self, **record: Any) -> object:
        self.count += 1
        return object()

    def record_count(self) -> int:
        return self.count


class FakeProducer:
    """Sends nothing; every batch's delivery fails with `error` (None: succeeds)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.started = self.stopped = False
        self.batches = 0

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.batches += 1
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.error is None:
            delivered.set_result(None)
        else:
            delivered.set_exception(self.error)
        return delivered

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def claimed(count: int) -> list[ClaimedMessage]:
    return [
        ClaimedMessage(n, 0, OutgoingMessage("t.prescription-updated", b"k%d" % n, b"{}", ()))
        for n in range(count)
    ]


async def test_a_lost_sequence_renews_the_producer_once_and_the_next_round_uses_it() -> None:
    lost = FakeProducer(OutOfOrderSequenceNumber())
    renewed: list[FakeProducer] = []

    def new_producer() -> Any:
        renewed.append(FakeProducer(None))
        return renewed[-1]

    relay = OutboxRelay(None, lost, new_producer=new_producer)  # type: ignore[arg-type]
    rounds = await asyncio.gather(
        relay._send(claimed(4)), relay._send(claimed(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, OutOfOrderSequenceNumber) for outcome in rounds)
    assert len(renewed) == 1 and renewed[0].started, "one new producer for both rounds"
    assert relay.producer is renewed[0]
    assert lost.stopped
    await relay._send(claimed(4))  # the rows left unsent go out on the new producer
    assert renewed[0].batches > 0


@pytest.mark.parametrize("error", [KafkaConnectionError(), TimeoutError()])
async def test_other_failures_keep_the_producer(error: BaseException) -> None:
    producer = FakeProducer(error)
    relay = OutboxRelay(None, producer, new_producer=lambda: pytest.fail("renewed"))  # type: ignore[arg-type]
    with pytest.raises(type(error)):
        await relay._send(claimed(2))
    assert relay.producer is producer and not producer.stopped


class SilentProducer(FakeProducer):
    """Takes every batch and settles none: no ack, no error (seen after a cluster restart)."""

    def __init__(self) -> None:
        super().__init__(None)

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.batches += 1
        return asyncio.get_running_loop().create_future()  # never done


async def test_a_producer_that_never_answers_is_replaced_after_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.publish.relay as relay_module

    monkeypatch.setattr(relay_module, "STUCK_SECONDS", 0.2)
    silent = SilentProducer()
    renewed: list[FakeProducer] = []

    def new_producer() -> Any:
        renewed.append(FakeProducer(None))
        return renewed[-1]

    relay = OutboxRelay(None, silent, new_producer=new_producer)  # type: ignore[arg-type]
    with pytest.raises(relay_module.ProducerStuck, match="neither acknowledged nor refused"):
        await asyncio.wait_for(relay._send(claimed(3)), 5)
    assert relay.producer is renewed[0] and renewed[0].started and silent.stopped
    await relay._send(claimed(3))  # the round again: on the new producer, acknowledged
    assert renewed[0].batches > 0


async def test_a_new_producer_that_cannot_start_leaves_the_rows_for_the_next_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.publish.relay as relay_module

    monkeypatch.setattr(relay_module, "STUCK_SECONDS", 0.2)

    class Unstartable(FakeProducer):
        async def start(self) -> None:
            await asyncio.sleep(10)

    lost = FakeProducer(OutOfOrderSequenceNumber())
    tries: list[FakeProducer] = []

    def new_producer() -> Any:
        tries.append(Unstartable(None) if not tries else FakeProducer(None))
        return tries[-1]

    relay = OutboxRelay(None, lost, new_producer=new_producer)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await relay._send(claimed(2))
    assert relay.producer is lost and tries[0].stopped, "the one that did not start is dropped"
    with pytest.raises(OutOfOrderSequenceNumber):
        await relay._send(claimed(2))  # the next round renews again, and this one starts
    assert relay.producer is tries[1] and tries[1].started


class DeafProducer(SilentProducer):
    """Never answers, and swallows the first cancellation of a send waiting for its partitions
    (the second, at the test's end, ends it)."""

    async def partitions_for(self, topic: str) -> set[int]:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)
        return {0}


async def test_a_producer_deaf_to_cancellation_is_replaced_after_the_bound_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bound holds even when the client swallows the cancellation of the round it cut."""
    import service.publish.relay as relay_module

    monkeypatch.setattr(relay_module, "STUCK_SECONDS", 0.2)
    deaf = DeafProducer()
    renewed: list[FakeProducer] = []

    def new_producer() -> Any:
        renewed.append(FakeProducer(None))
        return renewed[-1]

    relay = OutboxRelay(None, deaf, new_producer=new_producer)  # type: ignore[arg-type]
    with pytest.raises(relay_module.ProducerStuck):
        await asyncio.wait_for(relay._send(claimed(3)), 5)
    assert relay.producer is renewed[0]
    await relay._send(claimed(3))
    assert renewed[0].batches > 0
