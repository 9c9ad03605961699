"""The composition root's wiring, with fakes for the clients: no broker, no database, no task."""

from __future__ import annotations

import asyncio
from typing import Any

from service.config import Settings
from service.process.context import Clients, ProcessContext
from service.process.metrics import Metrics
from service.tracing import Tracing


def test_wire_connects_the_processor_the_relay_and_the_reply_copies() -> None:
    settings = Settings(topic_prefix="wired", reply_timeout_seconds=2.5, relay_batch_size=77)
    pool, producer, reply_producer = object(), object(), object()
    clients = Clients(pool, producer, reply_producer)  # type: ignore[arg-type]
    metrics, stopping = Metrics(), asyncio.Event()
    context = ProcessContext.wire(settings, clients, metrics, Tracing(), stopping)

    assert context.pool is pool and context.tasks == []
    assert (
        context.processor.pool is pool and context.processor.after_commit.publisher is context.relay
    )
    relay: Any = context.relay
    assert (relay.pool, relay.producer, relay.replies) == (pool, producer, context.replies)
    assert relay.own_topics == frozenset(settings.topics.all()) and relay.batch_size == 77
    assert relay.stopping is stopping
    assert context.replies.producer is reply_producer and context.replies.timeout == 2.5
    context.replies.on_dropped("timeout")
    context.replies.on_sent()
    values = {
        (s.name, s.labels.get("reason")): s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name.startswith("program_builder_reply_copies")
    }
    assert values[("program_builder_reply_copies_dropped_total", "timeout")] == 1
    assert values[("program_builder_reply_copies_sent_total", None)] == 1
