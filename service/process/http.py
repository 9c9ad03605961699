"""HTTP probes and metrics: `/healthz`, `/readyz`, `/metrics` (CONTRACT.md § Operating)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from faststream.asgi import AsgiResponse, get
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.process.context import ProcessContext
from service.process.metrics import Metrics
from service.storage.outbox import backlog as outbox_backlog

log = logging.getLogger("program_builder")

Running = Callable[[], ProcessContext | None]
"""The process context while the consumer runs, else None."""


def routes(
    running: Running, broker: KafkaBroker, metrics: Metrics, subscribers: list[Any]
) -> list[tuple[str, Any]]:
    return [
        ("/healthz", _healthz()),
        ("/readyz", _readyz(running, broker)),
        ("/metrics", _metrics(running, metrics, subscribers)),
    ]


def _healthz() -> Any:
    @get(include_in_schema=False)
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"", status_code=204)

    return healthz


def _readyz(running: Running, broker: KafkaBroker) -> Any:
    @get(include_in_schema=False)
    async def readyz(scope: Any) -> AsgiResponse:
        problems: list[str] = []
        process = running()
        if process is None:
            problems.append("consumer not running")
        else:
            try:
                async with asyncio.timeout(2):
                    await process.pool.fetchval("SELECT 1")
            except Exception as error:
                problems.append(f"database: {type(error).__name__}")
        try:
            async with asyncio.timeout(2):
                if not await broker.ping(timeout=2):
                    problems.append("broker: no answer")
        except Exception as error:
            problems.append(f"broker: {type(error).__name__}")
        if problems:
            return AsgiResponse("; ".join(problems).encode(), status_code=503)
        return AsgiResponse(b"", status_code=204)

    return readyz


def _metrics(running: Running, metrics: Metrics, subscribers: list[Any]) -> Any:
    @get(include_in_schema=False)
    async def serve_metrics(scope: Any) -> AsgiResponse:
        await _observe_lag(metrics, subscribers)
        process = running()
        if process is not None:
            try:
                async with asyncio.timeout(2), process.pool.acquire() as connection:
                    pending, oldest = await outbox_backlog(connection)
                metrics.outbox_backlog.set(pending)
                metrics.outbox_oldest_seconds.set(oldest)
            except Exception as error:  # metrics must answer even when the database does not
                log.warning("outbox backlog unavailable: %s", error)
        return AsgiResponse(
            generate_latest(metrics.registry),
            status_code=200,
            headers={"content-type": CONTENT_TYPE_LATEST},
        )

    return serve_metrics


async def _observe_lag(metrics: Metrics, subscribers: list[Any]) -> None:
    """Lag of the partitions this process owns, from its consumers' own fetch state."""
    metrics.consumer_lag.clear()
    for subscriber in subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        for partition in consumer.assignment():
            high = consumer.highwater(partition)
            if high is None:
                continue  # nothing fetched from it yet
            try:
                position = await asyncio.wait_for(consumer.position(partition), 1)
            except Exception:  # noqa: S112 - a rebalance may take the partition meanwhile
                continue
            metrics.consumer_lag.labels(str(partition.partition)).set(max(0, high - position))
