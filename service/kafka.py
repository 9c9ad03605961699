"""Kafka clients built from settings: security, the relay's producer, and topic creation."""

from __future__ import annotations

import contextlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from service.config import Settings

log = logging.getLogger("program_builder.kafka")


def security(settings: Settings) -> BaseSecurity | None:
    """The FastStream security object for the configured protocol, mechanism and credentials."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = (
        ssl.create_default_context(cafile=settings.kafka_ssl_cafile) if "SSL" in protocol else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    use_ssl = protocol == "SASL_SSL"
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    return kinds[mechanism](username, password, ssl_context=context, use_ssl=use_ssl)


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments shared by every client of the service."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": "program-builder",
        **parse_security(security(settings)),
    }


def create_producer(settings: Settings) -> AIOKafkaProducer:
    idempotent = settings.kafka_enable_idempotence
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
    )


async def ensure_topics(settings: Settings) -> None:
    """Create the service's topics when missing (the DLQ and event topics too)."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in settings.topics.all() if t not in existing]
        if not missing:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # another instance was first
            await admin.create_topics(
                [
                    NewTopic(t, settings.topic_partitions, settings.topic_replication_factor)
                    for t in missing
                ]
            )
        log.info("created topics %s", missing)
    finally:
        await admin.close()
