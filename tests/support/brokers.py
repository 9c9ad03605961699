"""Brokers of a test's own, for tests that take the broker away or put a proxy in front of it:
of the same kind as the session's (Apache Kafka, or Tansu on a machine without Java)."""

from __future__ import annotations

from pathlib import Path

from devstack.stack import Broker, BrokerChoice, choose_broker, local_broker
from tests.support.infrastructure import Infrastructure


def own_broker(
    infrastructure: Infrastructure, root: Path, advertised_port: int | None = None
) -> Broker:
    """A broker (not started) with its data under `root`; clients are told `advertised_port`
    when given (a proxy in front)."""
    kind = "tansu" if infrastructure.kafka_kind == "tansu" else choose_broker().kind
    return local_broker(BrokerChoice(kind), root, advertised_port)
