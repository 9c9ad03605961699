"""Hostile headers at the service's edge (`service.apply.wire`) and the bounded reply copies
(`service.publish.replies`), without a broker: a requester's reply-to is either a topic we may
write or ignored, a dead letter's x-* headers are ours alone, a copy that never completes is
dropped in time and never waited for."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from contracts.dlq import HEADER_CORRELATION_ID, HEADER_REPLY_TO
from contracts.topics import Topics
from service.apply.wire import Messages, Record
from service.publish.replies import ReplyCopies
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage
from tests.unit.service.test_messages import NOW

TOPICS = Topics("unit")


def record(*headers: tuple[str, bytes]) -> Record:
    return Record(TOPICS.commands, 1, 7, b"key", b"{}", headers)


@pytest.mark.parametrize(
    "reply_to",
    [
        b".",
        b"..",
        b"",
        b"x" * 250,
        b"a b",
        b"caf\xc3\xa9",
        b"\xff\xfe",
        TOPICS.commands.encode(),
        TOPICS.command_results.encode(),
        TOPICS.dead_letters.encode(),
    ],
)
def test_a_reply_to_that_kafka_refuses_or_that_is_ours_is_ignored(reply_to: bytes) -> None:
    assert Messages(TOPICS).reply_topic(record((HEADER_REPLY_TO, reply_to))) is None


@pytest.mark.parametrize("reply_to", [b"...", b"a", b"x" * 249, b"coach-app.replies_1"])
def test_a_legal_reply_to_is_answered(reply_to: bytes) -> None:
    assert Messages(TOPICS).reply_topic(record((HEADER_REPLY_TO, reply_to))) == reply_to.decode()


def test_a_dead_letter_carries_only_the_services_own_x_headers_and_keeps_every_other() -> None:
    own = [
        ("x-error-code", b"too_large"),
        ("x-error-message", b"forged"),
        ("x-original-topic", b"elsewhere"),
        ("x-original-partition", b"99"),
        ("x-original-offset", b"1"),
    ]
    others = [(f"x-flood-{i}", b"v") for i in range(2000)] + [("X-Error-Code", b"other name")]
    dead = Messages(TOPICS).dead_letter(record(*own, *others, *own), "not_json", "why")
    assert list(dead.headers) == [
        *others,
        ("x-error-code", b"not_json"),
        ("x-error-message", b"why"),
        ("x-original-topic", TOPICS.commands.encode()),
        ("x-original-partition", b"1"),
        ("x-original-offset", b"7"),
    ]


def test_a_long_correlation_id_is_echoed_on_the_result_and_its_reply_copy() -> None:
    correlation = b"c" * 200_000
    entry = InboxEntry(uuid.uuid4(), "program.create", uuid.uuid4(), "applied", 1, None, "t")
    messages = Messages(TOPICS).results(
        record((HEADER_CORRELATION_ID, correlation), (HEADER_REPLY_TO, b"replies")),
        entry,
        NOW,
        (),
        duplicate=False,
    )
    assert [m.topic for m in messages] == [TOPICS.command_results, "replies"]
    assert all(dict(m.headers)[HEADER_CORRELATION_ID] == correlation for m in messages)


class FakeProducer:
    """Sends to `slow` topics never complete; to `failing` ones fail; the rest are acked."""

    def __init__(self, slow: set[str] = frozenset(), failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.slow, self.failing = slow, failing
        self.sent: list[str] = []
        self.tracked: list[set[str]] = []
        self.client = self

    def set_topics(self, topics: set[str]) -> None:
        self.tracked.append(set(topics))

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        if topic in self.slow:
            await asyncio.Event().wait()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if topic in self.failing:
            future.set_exception(RuntimeError("topic authorization failed"))
        else:
            self.sent.append(topic)
            future.set_result(None)
        return future


def copies(*topics: str) -> list[OutgoingMessage]:
    return [OutgoingMessage(topic, b"k", b"v") for topic in topics]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_copy_that_never_completes_is_dropped_after_the_bound_and_its_topic_refused() -> (
    None
):
    producer = FakeProducer(slow={"hangs"}, failing={"denied"})
    dropped: list[str] = []
    sent: list[None] = []
    clock = Clock()
    replies = ReplyCopies(
        producer,  # type: ignore[arg-type]
        timeout=0.2,
        on_dropped=dropped.append,
        on_sent=lambda: sent.append(None),
        clock=clock,
    )
    replies.send(copies("hangs", "fine", "denied"))  # returns at once: nothing is awaited
    assert replies.in_flight == 3
    await asyncio.sleep(0.05)
    assert producer.sent == ["fine"] and len(sent) == 1
    assert dropped == ["RuntimeError"]
    await asyncio.sleep(0.3)
    assert dropped == ["RuntimeError", "timeout"] and replies.in_flight == 0
    # Neither failing topic is asked about any more; the good one still is.
    assert producer.tracked[-1] == {"fine"}

    replies.send(copies("hangs", "denied", "fine"))
    assert dropped[2:] == ["refused", "refused"] and replies.in_flight == 1
    clock.now += 61  # a minute later each failing topic is tried again
    replies.send(copies("denied"))
    await asyncio.sleep(0.05)
    assert dropped[4:] == ["RuntimeError"]


async def test_copies_past_the_in_flight_bound_are_dropped_not_queued() -> None:
    producer = FakeProducer(slow={"hangs"})
    dropped: list[str] = []
    replies = ReplyCopies(producer, timeout=30, max_in_flight=3, on_dropped=dropped.append)  # type: ignore[arg-type]
    replies.send(copies(*["hangs"] * 5))
    assert replies.in_flight == 3 and dropped == ["overloaded", "overloaded"]
    await replies.aclose(grace=0.05)
    assert dropped == ["overloaded", "overloaded", "stopped", "stopped", "stopped"]
    assert replies.in_flight == 0


async def test_the_reply_producer_forgets_the_topic_used_longest_ago(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("service.publish.replies.TOPICS_KEPT", 2)
    producer = FakeProducer()
    replies = ReplyCopies(producer, timeout=1)  # type: ignore[arg-type]
    for topic in ("run-1", "run-2", "run-1", "run-3"):
        replies.send(copies(topic))
        await asyncio.sleep(0.01)
    assert producer.sent == ["run-1", "run-2", "run-1", "run-3"]
    assert producer.tracked == [{"run-1", "run-3"}]
