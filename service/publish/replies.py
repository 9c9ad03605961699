"""Copies of results for the requesters' `reply-to` topics: sent apart, bounded, never waited on.

A reply topic is chosen by whoever sent the command, so it may be illegal, refused, unauthorised
or slow to create, and the broker may take a request's full timeout to say so. Nothing that waits
for it may hold back the results and events of other commands (CONTRACT.md, Topics). So a copy
is handed over once the outbox round that carries it has the broker's acks for everything else,
and is sent here, in a task of its own, on a producer of its own (an unknown topic stays in a
producer's metadata requests: a hostile one must not ride along with the contract topics'). A
copy that is not acknowledged within `timeout` seconds is dropped, logged and counted; its topic
is then refused at once for `refuse_seconds`, so a flood of copies to it costs nothing. The
result is on the results topic regardless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer

from service.storage.outbox import OutgoingMessage

log = logging.getLogger("program_builder.replies")

REFUSED_TOPICS_KEPT = 4096
"""How many failing reply topics are remembered (the oldest is forgotten first)."""
TOPICS_KEPT = 1024
"""How many reply topics the reply producer keeps in its metadata requests."""


class ReplyCopies:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        *,
        timeout: float,
        max_in_flight: int = 10_000,
        refuse_seconds: float = 60.0,
        on_sent: Callable[[], None] = lambda: None,
        on_dropped: Callable[[str], None] = lambda reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.producer = producer
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.refuse_seconds = refuse_seconds
        self.on_sent = on_sent
        self.on_dropped = on_dropped
        self.clock = clock
        self._refused: OrderedDict[str, float] = OrderedDict()  # topic -> refused until
        self._sending: set[asyncio.Task[None]] = set()
        self._topics_in_flight: dict[str, int] = {}
        self._topics_known: OrderedDict[str, None] = OrderedDict()  # acknowledged, latest last

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Start sending each copy in the background; returns at once and never raises."""
        for message in messages:
            refused_until = self._refused.get(message.topic)
            if refused_until is not None:
                if refused_until > self.clock():
                    self._drop(message, "refused", "it failed recently")
                    continue
                del self._refused[message.topic]
            if len(self._sending) >= self.max_in_flight:
                self._drop(message, "overloaded", f"{self.max_in_flight} copies are in flight")
                continue
            task = asyncio.create_task(self._deliver(message), name="reply-copy")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, message: OutgoingMessage) -> None:
        topic = message.topic
        self._topics_in_flight[topic] = self._topics_in_flight.get(topic, 0) + 1
        try:
            async with asyncio.timeout(self.timeout):
                sent = await self.producer.send(
                    topic, value=message.value, key=message.key, headers=list(message.headers)
                )
                await sent
        except Exception as error:  # TimeoutError included: every failure is the same drop
            self._refuse(topic)
            if isinstance(error, TimeoutError):
                self._drop(message, "timeout", f"not acknowledged within {self.timeout:g} s")
            else:
                self._drop(message, type(error).__name__, str(error) or type(error).__name__)
        else:
            self._known(topic)
            self.on_sent()
        finally:
            left = self._topics_in_flight[topic] - 1
            if left:
                self._topics_in_flight[topic] = left
            else:
                del self._topics_in_flight[topic]

    def _known(self, topic: str) -> None:
        """Remember a topic that took a copy; past `TOPICS_KEPT`, the producer stops asking the
        broker about the one used longest ago (a requester per run, as the bulk import is,
        would otherwise grow every metadata request)."""
        self._topics_known[topic] = None
        self._topics_known.move_to_end(topic)
        if len(self._topics_known) > TOPICS_KEPT:
            self._topics_known.popitem(last=False)
            self.producer.client.set_topics(set(self._topics_known) | set(self._topics_in_flight))

    def _refuse(self, topic: str) -> None:
        self._refused[topic] = self.clock() + self.refuse_seconds
        self._refused.move_to_end(topic)
        while len(self._refused) > REFUSED_TOPICS_KEPT:
            self._refused.popitem(last=False)
        self._topics_known.pop(topic, None)
        # Stop asking the broker about it in every metadata request of this producer.
        self.producer.client.set_topics(
            (set(self._topics_known) | set(self._topics_in_flight)) - {topic}
        )

    def _drop(self, message: OutgoingMessage, reason: str, why: str) -> None:
        self.on_dropped(reason)
        # The first failure of a topic is a warning; the copies refused after it, a flood
        # a requester can cause, are counted and logged at debug level only.
        log.log(
            logging.DEBUG if reason == "refused" else logging.WARNING,
            "dropped the reply-to copy of result %s for topic %r (%s): the result is on the "
            "results topic",
            (message.key or b"").decode(errors="replace"),
            message.topic,
            why,
        )

    async def aclose(self, grace: float) -> None:
        """Give the copies in flight `grace` seconds, then drop the rest."""
        if not self._sending:
            return
        _, late = await asyncio.wait(set(self._sending), timeout=grace)
        for task in late:
            task.cancel()
            self.on_dropped("stopped")
        if late:
            await asyncio.gather(*late, return_exceptions=True)
