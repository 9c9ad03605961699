"""The Apache Kafka launcher's pure parts: one pinned version everywhere, what a node is
configured with, and which broker the local stack chooses (no JVM started here)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from devstack import stack
from devstack.apache_kafka import ApacheKafka, KafkaJars, cluster_id, kafka_version
from devstack.stack import choose_broker
from service.config import ConfigurationError

ROOT = Path(__file__).resolve().parents[3]


def test_docker_compose_runs_the_kafka_version_the_tests_run() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    images = re.findall(r"image: apache/kafka:(\S+)", compose)
    assert images == [kafka_version()]
    assert kafka_version().startswith("4.1.")


def test_the_pom_names_no_download_address() -> None:
    pom = (ROOT / "tooling" / "kafka" / "pom.xml").read_text()
    assert "http://" not in pom.replace("http://maven.apache.org/POM/4.0.0", "").replace(
        "http://www.w3.org/2001/XMLSchema-instance", ""
    )
    assert "https://" not in pom.replace("https://maven.apache.org/xsd/maven-4.0.0.xsd", "")
    assert "<repositories>" not in pom


def test_cluster_ids_are_16_bytes_in_base64url_never_starting_with_a_dash() -> None:
    for _ in range(500):
        text = cluster_id()
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_jars_are_cached_per_version_and_pom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_KAFKA_CACHE", str(tmp_path))
    jars = KafkaJars()
    assert jars.directory.parent == tmp_path
    assert jars.directory.name.startswith(f"kafka-{kafka_version()}-")
    assert not jars.present()
    jars.directory.mkdir()
    (jars.directory / ".complete").write_text(kafka_version())
    assert jars.ensure() == jars.directory  # no Maven run once present


def test_three_nodes_share_one_quorum_and_replicate_internal_topics(tmp_path: Path) -> None:
    cluster = ApacheKafka(root=tmp_path, nodes=3, listeners=["SASL:SASL_PLAINTEXT"])
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster.members)
    properties = [
        node.properties(voters, cluster._defaults() | cluster.properties)
        for node in cluster.members
    ]
    assert [p["node.id"] for p in properties] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in properties} == {voters}
    assert len({p["log.dirs"] for p in properties}) == 3
    first = properties[0]
    assert first["offsets.topic.replication.factor"] == "3"
    assert first["min.insync.replicas"] == "2"
    assert first["default.replication.factor"] == "3"
    assert "SASL:SASL_PLAINTEXT" in first["listener.security.protocol.map"]
    assert cluster.bootstrap_servers.count(",") == 2
    assert cluster.listener_servers("SASL").count("127.0.0.1:") == 3


def test_one_node_replicates_once() -> None:
    node = ApacheKafka(root=Path("/nonexistent"), advertised_ports=[4242])
    member = node.members[0]
    properties = member.properties("1@127.0.0.1:1", node._defaults())
    assert properties["offsets.topic.replication.factor"] == "1"
    assert properties["min.insync.replicas"] == "1"
    assert properties["advertised.listeners"] == "PLAINTEXT://127.0.0.1:4242"
    assert node.bootstrap_servers == "127.0.0.1:4242"


@pytest.mark.parametrize(
    ("wanted", "reason", "kind"),
    [
        ("auto", None, "kafka"),
        ("auto", "no Java (java not on PATH, JAVA_HOME unset)", "tansu"),
        ("tansu", None, "tansu"),
        ("KAFKA", None, "kafka"),
    ],
)
def test_the_broker_choice(
    wanted: str, reason: str | None, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_BROKER", wanted)
    monkeypatch.setattr(stack, "unavailable_reason", lambda: reason)
    choice = choose_broker()
    assert choice.kind == kind
    if kind == "tansu" and wanted == "auto":
        assert choice.why == reason


def test_asking_for_kafka_where_it_cannot_run_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PB_BROKER", "kafka")
    monkeypatch.setattr(stack, "unavailable_reason", lambda: "no Maven (mvn not on PATH)")
    with pytest.raises(ConfigurationError, match="PB_BROKER: kafka asked for, but no Maven"):
        choose_broker()
    monkeypatch.setenv("PB_BROKER", "redpanda")
    with pytest.raises(ConfigurationError, match="not one of kafka, tansu, auto"):
        choose_broker()
