"""Broker faults on a three-broker Apache Kafka cluster (KRaft, replication factor 3,
`min.insync.replicas=2`, `acks=all`, idempotence on) while a steady stream flows: the leader of
a commands partition is SIGKILLed and restarted, then the leader of a results partition, then
every broker is stopped for 30 s and started again. The service runs throughout without a
restart; `/readyz` reports the outage while it lasts; afterwards the same checks as the scale-out
test hold: one predicted outcome per command, programs at the sequential replay's versions, no
event lost, the latest event per key equal to the database, versions going back only as
replays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.apache_kafka import ApacheKafka
from devstack.children import free_port
from tests.support.broker_faults import kill_node, start_node
from tests.support.flow import (
    ResultTimes,
    assert_consistent,
    longest_silence,
    paced,
    started_with_reader,
    stream,
)
from tests.support.infrastructure import Infrastructure
from tests.support.runs import RunFactory
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]

RATE = 200
OUTAGE_SECONDS = 30


@pytest.fixture
def cluster(infrastructure: Infrastructure, tmp_path: Path) -> Iterator[ApacheKafka]:
    if infrastructure.kafka_kind == "tansu":
        pytest.skip("needs Apache Kafka (Java 17+ and Maven): Tansu runs one node")
    brokers = ApacheKafka(root=tmp_path / "cluster", nodes=3).start()
    try:
        yield brokers
    finally:
        brokers.stop()


async def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    """The index in the cluster (node id - 1) of the partition's leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        leaders = {p["partition"]: p["leader"] for p in described["partitions"]}
        return int(leaders[partition]) - 1
    finally:
        await admin.close()


async def test_leaders_killed_and_every_broker_stopped_while_commands_flow(
    cluster: ApacheKafka, service_run: RunFactory, database_url: str
) -> None:
    messages, predicted = stream(tenants=2, programs=25, count=RATE * 30)
    http_port = free_port()
    run = service_run(
        "faults",
        bootstrap=cluster.bootstrap_servers,
        TOPIC_REPLICATION_FACTOR="3",
        KAFKA_ENABLE_IDEMPOTENCE="true",
        HTTP_PORT=str(http_port),
        LOG_LEVEL="INFO",
    )
    service, reader = await started_with_reader(run)
    timings: dict[str, float] = {}
    try:
        go = asyncio.Event()
        go.set()
        sending = asyncio.create_task(paced(reader, messages, RATE, go))
        await asyncio.sleep(5)
        for name, topic in (
            ("commands leader", reader.topics.commands),
            ("results leader", reader.topics.command_results),
        ):
            node = await leader_of(cluster.bootstrap_servers, topic, 0)
            killed = time.perf_counter()
            await asyncio.to_thread(kill_node, cluster, node)
            await asyncio.sleep(2)
            await asyncio.to_thread(start_node, cluster, node)
            timings[name] = longest_gap(reader, killed)
            assert service.alive(), run.output()

        answered = len(reader.results)
        go.clear()  # a client holds its commands while no broker answers (and sends them after)
        stopped = time.perf_counter()
        for index in range(3):
            await asyncio.to_thread(kill_node, cluster, index)
        await service.wait_readiness(503, 20)
        await asyncio.sleep(OUTAGE_SECONDS - (time.perf_counter() - stopped))
        assert service.alive(), "the service runs through the outage"
        assert await service.readiness() == 503, "not ready for as long as the outage lasts"
        await asyncio.to_thread(cluster.start)
        restarted = time.perf_counter()
        go.set()
        await service.wait_readiness(204, 90)
        await wait_until(lambda: len(reader.results) > answered, 90, "results after the outage")
        timings["back after the outage"] = time.perf_counter() - restarted
        await sending
        replays = await assert_consistent(predicted, reader, database_url)
        assert service.starts == 1 and service.alive()
        assert service.terminate() == 0, run.output()
    finally:
        await reader.stop()
    print(
        f"\nbroker faults at {RATE}/s: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items())
        + f"; {replays} events replayed"
    )


def longest_gap(reader: ResultTimes, since: float) -> float:
    """The longest time without any result, on any partition, from `since` until now."""
    every = [t for times in reader.arrivals.values() for t in times]
    return longest_silence({0: sorted(every)}, since, time.perf_counter())
