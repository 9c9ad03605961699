"""Prometheus metrics of the service (FastStream's middleware adds the consumer-side ones)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.apply.outcomes import Outcome

STAGE_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    1,
    5,
)
STAGES = ("queued", "transaction", "publish", "mark_sent", "offset_commit", "relay_wake", "sweep")


class Metrics:
    """One registry per application, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._commands()
        self._outbox()
        self._replies_and_lag()

    # --- which metrics

    def _commands(self) -> None:
        self.commands = self._counter(
            "program_builder_commands",
            "Commands processed, by type, outcome "
            "(applied/rejected/duplicate/dead_letter) and error code.",
            ["type", "outcome", "error_code"],
        )
        self.batch_seconds = self._histogram(
            "program_builder_batch_seconds",
            "Time to apply and commit one batch of commands (one PostgreSQL transaction).",
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = self._histogram(
            "program_builder_batch_commands",
            "Commands per batch transaction.",
            (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        )
        self.stage_seconds = self._histogram(
            "program_builder_stage_seconds",
            "Where a command's time goes, by stage: queued (the command record's timestamp to "
            "its batch's handler), transaction (apply and commit the batch), publish (commit "
            "to the broker's acks of what it wrote), mark_sent (acks to rows marked sent), "
            "offset_commit (the batch's Kafka offsets); for rows left to the relay, relay_wake "
            "(commit to the relay round) and sweep (a relay round, claim to commit).",
            STAGE_BUCKETS,
            ["stage"],
        )

    def _outbox(self) -> None:
        self.published = self._counter(
            "program_builder_outbox_published", "Outbox messages published by the relay."
        )
        self.publish_errors = self._counter(
            "program_builder_outbox_publish_errors",
            "Relay rounds that failed (rolled back, retried).",
            ["error"],
        )
        self.outbox_backlog = self._gauge(
            "program_builder_outbox_backlog", "Outbox messages not yet published."
        )
        self.outbox_oldest_seconds = self._gauge(
            "program_builder_outbox_oldest_unsent_seconds",
            "Age of the oldest unpublished outbox message.",
        )

    def _replies_and_lag(self) -> None:
        self.reply_copies_sent = self._counter(
            "program_builder_reply_copies_sent",
            "Result copies the broker acknowledged on requesters' reply-to topics.",
        )
        self.reply_copies_dropped = self._counter(
            "program_builder_reply_copies_dropped",
            "Result copies for reply-to topics given up (the result is on the results topic "
            "regardless), by reason: timeout, refused (the topic failed recently), overloaded, "
            "stopped, or the broker's error.",
            ["reason"],
        )
        self.consumer_lag = self._gauge(
            "program_builder_consumer_lag",
            "Commands on the partition not yet fetched by this process (high watermark - "
            "position), per assigned partition of the commands topic.",
            ["partition"],
        )

    # --- how they are registered: each in this application's own registry

    def _counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def _histogram(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labels: Sequence[str] = (),
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def stage(self, name: str, seconds: float) -> None:
        self.stage_seconds.labels(name).observe(max(0.0, seconds))

    def observe_batch(self, outcomes: Iterable[Outcome], seconds: float) -> None:
        count = 0
        for outcome in outcomes:
            count += 1
            self.commands.labels(
                outcome.command_type or "unknown", outcome.status, outcome.error_code or ""
            ).inc()
        self.batch_seconds.observe(seconds)
        self.batch_size.observe(count)
