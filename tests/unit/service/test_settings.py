"""Kafka security settings wired through to the clients, and secrets kept out of repr.

A configuration test: the clients are built with exactly the configured protocol, mechanism and
credentials (the service on listeners that enforce SASL and SSL, and its logs kept free of
passwords, are tests/e2e/test_security.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from service.config import Settings
from service.publish.kafka import client_options, create_producer

KAFKA_SECRET = "kafka-s3cr3t-Z9"
DATABASE_SECRET = "db-s3cr3t-Q7"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_plaintext_by_default() -> None:
    options = client_options(settings())
    assert options.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
    assert "sasl_plain_password" not in options


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_sasl_mechanism_and_credentials_reach_the_client(
    protocol: str, mechanism: str
) -> None:
    configured = settings(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="program-builder",
        kafka_sasl_password=KAFKA_SECRET,
    )
    options = client_options(configured)
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "program-builder"
    assert options["sasl_plain_password"] == KAFKA_SECRET
    assert isinstance(options.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    producer = create_producer(configured)
    assert producer.client._security_protocol == protocol
    assert producer.client._sasl_mechanism == mechanism


def test_ssl_uses_the_configured_ca(tmp_path: Path) -> None:
    certifi = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    if not certifi or not Path(certifi).exists():
        pytest.skip("no CA bundle on this machine to stand in for a private CA")
    options = client_options(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=certifi))
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] > 0


def test_secrets_are_not_in_repr() -> None:
    configured = settings(
        kafka_sasl_password=KAFKA_SECRET,
        database_url=f"postgresql://app:{DATABASE_SECRET}@db/program_builder",
    )
    for text in (repr(configured), str(configured), str(configured.model_dump())):
        assert KAFKA_SECRET not in text
        assert DATABASE_SECRET not in text
