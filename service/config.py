"""Settings from environment variables (and `.env`), named as in CONTRACT.md § "Operating"."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from aiokafka.conn import collect_hosts
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import DEFAULT_PREFIX, Topics


class ConfigurationError(Exception):
    """The service cannot start with this setting as it is (a port taken, a login refused…).

    Its text names the environment variable to change and never holds a secret: it is the one
    line a failed start ends with."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


def without_password(url: str) -> str:
    """`url` with its password replaced by `***`, to name a database in messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo, host = parts.netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "(unparseable URL)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    topic_prefix: str = DEFAULT_PREFIX
    consumer_group: str = "program-builder"

    # Production default against real Kafka: acks=all with idempotence. Brokers without
    # InitProducerId (the embedded Tansu) need it off; exactly-once comes from inbox + outbox.
    kafka_enable_idempotence: bool = True
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    # Group membership: a new member's join waits about half the session timeout on some brokers.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    # Tracing is off unless an OTLP/HTTP collector is named (e.g. http://otel-collector:4318).
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "program-builder"

    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # Consumption: up to this many commands are applied per PostgreSQL transaction.
    consume_max_records: int = Field(default=500, ge=1, le=5000)
    # ...and up to about this many bytes of commands: a fetch of big commands (imports) is
    # applied as several batches, pipelined (one decided while the one before it commits).
    consume_max_batch_bytes: int = Field(default=256 * 1024, ge=1)
    consume_batch_timeout_ms: int = Field(default=5, ge=1)
    # How long the broker may hold a fetch that has no data: bounds the latency of a lone command.
    consume_fetch_max_wait_ms: int = Field(default=5, ge=1)
    # Consumers in this process (each its own group member, so each owns whole partitions and
    # per-partition order holds): while one waits on PostgreSQL or the broker, another applies.
    consume_concurrency: int = Field(default=1, ge=1, le=16)
    db_pool_size: int = Field(default=8, ge=4)
    db_command_timeout_seconds: float = Field(default=30.0, gt=0)

    relay_batch_size: int = Field(default=5000, ge=1)
    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)
    producer_linger_ms: int = Field(default=0, ge=0)
    # A result's copy for a requester's reply-to topic is dropped when not acknowledged by then.
    reply_timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    outbox_retention_seconds: int = Field(default=86_400, ge=1)
    inbox_retention_seconds: int = Field(default=7 * 86_400, ge=1)
    retention_interval_seconds: float = Field(default=300.0, gt=0)

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        try:
            hosts = collect_hosts(value, randomize=False)
        except ValueError:
            hosts = []
        if not hosts or any(not host or not 0 < port < 65536 for host, port, _ in hosts):
            raise ValueError("expected host:port[,host:port…]")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in ("postgresql", "postgres"):
            raise ValueError("expected postgresql://user[:password]@host[:port]/database")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)
