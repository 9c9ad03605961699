"""Kafka clients built from settings: security, the relay's producer, topic creation, and which
broker errors are worth waiting out and which are the settings' fault."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import struct
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
)
from aiokafka.producer.message_accumulator import BatchBuilder
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from service.config import ConfigurationError, Settings

log = logging.getLogger("program_builder.kafka")


def security(settings: Settings) -> BaseSecurity | None:
    """The FastStream security object for the configured protocol, mechanism and credentials."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if "SSL" in protocol else None
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


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            "KAFKA_SSL_CAFILE", f"cannot load {settings.kafka_ssl_cafile!r}: {error}"
        ) from error


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments shared by every client of the service."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": "program-builder",
        **parse_security(security(settings)),
    }


_MURMUR2_M = 0x5BD1E995
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2, equal to aiokafka's (`aiokafka.partitioner.murmur2`) but reading the key
    four bytes at a time: every key of an import is new to the cache, and theirs masks each byte."""
    length = len(data)
    h = 0x9747B28C ^ length
    end = length & ~3
    for (word,) in _WORDS.iter_unpack(data[:end]):
        k = (word * _MURMUR2_M) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * _MURMUR2_M) & 0xFFFFFFFF) ^ ((k * _MURMUR2_M) & 0xFFFFFFFF)
    extra = length & 3
    if extra >= 3:
        h ^= data[end + 2] << 16
    if extra >= 2:
        h ^= data[end + 1] << 8
    if extra >= 1:
        h = ((h ^ data[end]) * _MURMUR2_M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _MURMUR2_M) & 0xFFFFFFFF
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=8192)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioner (murmur2 of the key, as the Java client and librdkafka's
    `murmur2_random` place keys), with each key's hash cached: aiokafka computes it in pure
    Python, and the same prescription, session and program keys come back edit after edit."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_key_hash(key) % len(all_partitions)]


class Sendable(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> tuple[tuple[str, bytes], ...]: ...


async def send_batched(
    producer: AIOKafkaProducer, messages: Sequence[Sendable]
) -> list[asyncio.Future[Any]]:
    """Send `messages` in order, as record batches built here, one per partition (and more when
    one fills): each message on the partition `send` would choose, each partition's messages in
    their order. Returns the batches' delivery futures. `send` costs a coroutine, a future and a
    metadata lookup per message; a commit publishes thousands of them (an import, ~50 each).
    A message too big for a batch of its own goes through `send`, in its place."""
    builders: dict[tuple[str, int], BatchBuilder] = {}
    partitions: dict[str, list[int]] = {}
    delivered: list[asyncio.Future[Any]] = []
    for message in messages:
        topic = message.topic
        if topic not in partitions:
            partitions[topic] = list(await producer.partitions_for(topic))
        every = partitions[topic]
        partition = partition_for(message.key, every, every)
        builder = builders.get((topic, partition))
        if builder is None:
            builder = builders[topic, partition] = producer.create_batch()
        record = {"timestamp": None, "key": message.key, "value": message.value}
        headers = list(message.headers)
        if builder.append(**record, headers=headers) is not None:
            continue
        # The batch is full: it goes, and the message starts the next one.
        if builder.record_count():
            delivered.append(await producer.send_batch(builder, topic, partition=partition))
        builder = builders[topic, partition] = producer.create_batch()
        if builder.append(**record, headers=headers) is None:
            delivered.append(
                await producer.send(
                    topic, message.value, message.key, partition=partition, headers=headers
                )
            )
    for (topic, partition), builder in builders.items():
        if builder.record_count():
            delivered.append(await producer.send_batch(builder, topic, partition=partition))
    return delivered


def create_producer(settings: Settings) -> AIOKafkaProducer:
    idempotent = settings.kafka_enable_idempotence
    return AIOKafkaProducer(
        **client_options(settings),
        partitioner=partition_for,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
    )


def create_reply_producer(settings: Settings) -> AIOKafkaProducer:
    """The producer of result copies for requesters' reply-to topics (see `publish.replies`):
    apart from the relay's, so that the topics requesters name, which may be illegal, refused
    or slow to create, never enter the contract topics' metadata requests. Its requests end
    within the copies' own bound."""
    timeout_ms = int(settings.reply_timeout_seconds * 1000)
    return AIOKafkaProducer(
        **client_options(settings),
        partitioner=partition_for,
        acks="all",
        enable_idempotence=False,  # no order across copies to keep; one less broker feature
        linger_ms=settings.producer_linger_ms,
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=timeout_ms,
        retry_backoff_ms=100,
    )


async def ensure_topics(settings: Settings) -> None:
    """Create the service's topics when missing (the DLQ and event topics too)."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15_000)
    try:
        await admin.start()
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


def refusal(error: BaseException) -> ConfigurationError | None:
    """What to change when the broker refused these settings (a login, a mechanism, a
    certificate, an ACL), or None when the error may pass by itself: waiting will not help."""
    match error:
        case SaslAuthenticationFailed() | AuthenticationFailedError():
            setting, problem = "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD", "the broker refused"
        case UnsupportedSaslMechanismError() | AuthenticationMethodNotSupported():
            setting, problem = "KAFKA_SASL_MECHANISM", "the broker does not accept"
        case IllegalSaslStateError():
            setting, problem = "KAFKA_SECURITY_PROTOCOL", "the broker's listener does not match"
        case (
            ClusterAuthorizationFailedError()
            | TopicAuthorizationFailedError()
            | GroupAuthorizationFailedError()
        ):
            setting, problem = "KAFKA_SASL_USERNAME", "the broker's ACLs do not allow"
        case ssl.SSLCertVerificationError():
            setting, problem = "KAFKA_SSL_CAFILE", "the broker's certificate is not trusted by"
        case _:
            return None
    return ConfigurationError(setting, f"{problem} these settings ({_describe(error)})")


IDEMPOTENCE_REFUSED = (
    "the broker refused an idempotent producer ({error}): set KAFKA_ENABLE_IDEMPOTENCE=false "
    "for a broker without it (such as the embedded Tansu), or use Apache Kafka"
)


async def start_producer(producer: AIOKafkaProducer, idempotent: bool) -> None:
    """Start `producer`; with idempotence on, a broker that does not grant a producer id (its
    InitProducerId answers UnknownError, or it lacks the request) is a `ConfigurationError`
    naming KAFKA_ENABLE_IDEMPOTENCE: retrying would only loop."""
    try:
        await producer.start()
    except (UnknownError, UnsupportedVersionError) as error:
        if not idempotent:
            raise
        raise ConfigurationError(
            "KAFKA_ENABLE_IDEMPOTENCE", IDEMPOTENCE_REFUSED.format(error=_describe(error))
        ) from error


def unavailable(error: BaseException) -> bool:
    """True when the broker may answer later (down, starting, unreachable): wait for it."""
    return refusal(error) is None and isinstance(error, KafkaError | OSError | TimeoutError)


async def check_login(settings: Settings) -> None:
    """Open one connection with the configured security to a bootstrap server and close it.

    aiokafka's own bootstrap logs a refused login and reports only "unable to bootstrap", which
    looks like a broker that is down; this connection raises the broker's actual answer
    (`refusal` tells which setting it is about). Nothing to check for PLAINTEXT."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    options = client_options(settings)
    options.pop("bootstrap_servers")
    last: BaseException | None = None
    for host, port, _ in collect_hosts(settings.kafka_bootstrap_servers):
        try:
            connection = await create_conn(host, port, request_timeout_ms=15_000, **options)
        except (KafkaError, OSError, TimeoutError) as error:
            if refusal(error) is not None:
                raise
            last = error
            continue
        connection.close()
        return
    assert last is not None
    raise last


def _describe(error: BaseException) -> str:
    name, text = type(error).__name__, str(error).strip()
    return text if name in text else f"{name}: {text}" if text else name
