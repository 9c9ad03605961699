"""Apache Kafka nodes taken away and brought back, for the tests that break the cluster on purpose
(the local stack starts and stops whole clusters; only these tests take single nodes away)."""

from __future__ import annotations

from devstack.apache_kafka import ApacheKafka


def kill_node(cluster: ApacheKafka, index: int) -> None:
    """SIGKILL one node: no controlled shutdown, its partitions lose their leader at once."""
    cluster.members[index].kill()


def start_node(cluster: ApacheKafka, index: int, timeout: float = 60) -> None:
    """Start a killed node again on its data, until the cluster answers with it."""
    if cluster.jars is None:
        raise RuntimeError("start() the cluster before bringing one of its nodes back")
    node = cluster.members[index]
    node.start(cluster.jars)
    cluster.wait_ready(timeout, [node])
