"""Kafka security against a broker that enforces it: an Apache Kafka of this module's own with a
SASL_PLAINTEXT listener (SCRAM-SHA-512, its user written at format time) and an SSL listener
(a CA and certificate made for the run). Commands in, results and events out over each; a wrong
password ends the start with one line naming the settings, and the password appears in no log,
no `repr` and no metric, nor while the service retries a broker and a database that never
answer."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.apache_kafka import ApacheKafka
from devstack.children import free_port
from service.config import Settings
from tests.support.certificates import Certificates, make_certificates
from tests.support.infrastructure import Infrastructure
from tests.support.kafka import CommandClient
from tests.support.process import ServiceProcess, service_env

pytestmark = pytest.mark.timeout(240)

USER = "program-builder"
PASSWORD = "scram-Pa55-" + uuid.uuid4().hex[:8]
WRONG_PASSWORD = "not-the-Pa55-" + uuid.uuid4().hex[:8]
KAFKA_SECRET = "kafka-s3cr3t-Z9"
DATABASE_SECRET = "db-s3cr3t-Q7"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def secured_kafka(
    infrastructure: Infrastructure, certificates: Certificates
) -> Iterator[ApacheKafka]:
    if infrastructure.kafka_kind == "tansu":
        pytest.skip("needs Apache Kafka (Java 17+ and Maven): Tansu cannot enforce SASL here")
    broker = ApacheKafka(
        listeners=["SASL:SASL_PLAINTEXT", "TLS:SSL"],
        properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.tls.ssl.keystore.type": "PEM",
            "listener.name.tls.ssl.keystore.location": str(certificates.server),
            "listener.name.tls.ssl.client.auth": "none",
        },
        scram_users={USER: PASSWORD},
    ).start()
    try:
        yield broker
    finally:
        broker.stop()


def secured(broker: ApacheKafka, certificates: Certificates, protocol: str) -> dict[str, str]:
    if protocol == "SASL_PLAINTEXT":
        return {
            "KAFKA_BOOTSTRAP_SERVERS": broker.listener_servers("SASL"),
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": PASSWORD,
        }
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.listener_servers("TLS"),
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": str(certificates.ca),
    }


def as_settings(environment: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap_servers=environment["KAFKA_BOOTSTRAP_SERVERS"],
        topic_prefix=environment["TOPIC_PREFIX"],
        kafka_security_protocol=environment["KAFKA_SECURITY_PROTOCOL"],
        kafka_sasl_mechanism=environment.get("KAFKA_SASL_MECHANISM"),
        kafka_sasl_username=environment.get("KAFKA_SASL_USERNAME"),
        kafka_sasl_password=environment.get("KAFKA_SASL_PASSWORD"),
        kafka_ssl_cafile=environment.get("KAFKA_SSL_CAFILE"),
    )


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SSL"])
async def test_commands_results_and_events_over_a_secured_listener(
    protocol: str,
    secured_kafka: ApacheKafka,
    certificates: Certificates,
    database_url: str,
    tmp_path: Path,
) -> None:
    prefix = f"secure-{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    environment = service_env(
        "unused:1",
        database_url,
        prefix,
        HTTP_PORT=str(http_port),
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        KAFKA_ENABLE_IDEMPOTENCE="true",
        **secured(secured_kafka, certificates, protocol),
    )
    process = ServiceProcess(environment, tmp_path / "service.log")
    process.start()
    try:
        await process.wait_for("program-builder ready", 90)
        settings = as_settings(environment)
        async with CommandClient(settings, topic_timeout=30) as client:
            program_id = str(uuid.uuid4())
            result = await client.run("program.create", program_id, name="Secured", weeks=3)
            assert result["status"] == "applied", result
            await client.wait_for(lambda: len(client.program_events(result["commandId"])) == 1, 20)
        metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{http_port}/metrics")
        assert process.terminate() == 0
    finally:
        if process.alive():
            process.kill()
    output = process.output()
    assert "Traceback" not in output
    assert PASSWORD not in output and PASSWORD not in metrics
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    print(f"{protocol}: a command applied, its result and event read over the secured listener")


async def test_a_wrong_password_ends_the_start_with_one_line(
    secured_kafka: ApacheKafka, certificates: Certificates, database_url: str, tmp_path: Path
) -> None:
    environment = service_env(
        "unused:1",
        database_url,
        f"secure-{uuid.uuid4().hex[:8]}",
        HTTP_PORT=str(free_port()),
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="text",
        **secured(secured_kafka, certificates, "SASL_PLAINTEXT"),
    )
    environment["KAFKA_SASL_PASSWORD"] = WRONG_PASSWORD
    process = ServiceProcess(environment, tmp_path / "wrong.log")
    process.start()
    ended = await process.exited(60)
    output = process.output()
    assert ended.status == 1, output  # a refused setting (README: "Failed starts")
    assert "Traceback" not in output
    line = output.strip().splitlines()[-1]
    assert "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD" in line, output
    assert WRONG_PASSWORD not in output and PASSWORD not in output
    print(f"wrong SCRAM password: status {ended.status} in {ended.seconds:.1f} s: {line}")


async def test_secrets_never_reach_the_logs(tmp_path: Path) -> None:
    """`program-builder run` against a broker and a database that never answer: it logs its
    retries, never the passwords (no broker of this module's needed)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "program-builder",
        "KAFKA_SASL_PASSWORD": KAFKA_SECRET,
        "DATABASE_URL": f"postgresql://app:{DATABASE_SECRET}@127.0.0.1:{free_port()}/x",
        "HTTP_PORT": "0",
        "LOG_LEVEL": "DEBUG",
    }
    process = ServiceProcess(env, tmp_path / "run.log")
    process.start()
    try:
        await process.wait_for("not available", 60)  # it did try, and said so
        assert (await process.stop(signal.SIGTERM)).status == 0
    finally:
        if process.alive():
            process.kill()
    text = process.output()
    assert KAFKA_SECRET not in text
    assert DATABASE_SECRET not in text


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
