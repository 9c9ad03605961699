"""Fixtures: one real broker and PostgreSQL per test session; each test gets its own database
(a copy of a migrated template) and its own topics and consumer group."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from service.config import Settings
from service.process.app import Service
from service.storage.database import create_pool
from service.storage.migrations import migrate
from tests.support.databases import database_url_for, scratch_database
from tests.support.infrastructure import (
    Infrastructure,
    describe_kafka,
    provide_kafka,
    provide_postgres,
)
from tests.support.kafka import CommandClient
from tests.support.runs import RunFactory, ServiceRun

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


def pytest_report_header() -> str:
    return f"broker: {describe_kafka()}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One PostgreSQL per test session: (superuser URL, kind). Integration tests need only this."""
    with provide_postgres(str(tmp_path_factory.mktemp("postgres"))) as server:
        yield server


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, bool]]:
    """One broker per test session, started only when a test needs it (end-to-end). Its kind
    sets KAFKA_ENABLE_IDEMPOTENCE for every service process a test starts: on (the production
    default) but on Tansu, which has no idempotent producer."""
    with provide_kafka(str(tmp_path_factory.mktemp("kafka"))) as server:
        os.environ["KAFKA_ENABLE_IDEMPOTENCE"] = str(server[2]).lower()
        yield server


@pytest.fixture(scope="session")
def infrastructure(
    postgres_server: tuple[str, str], kafka_server: tuple[str, str, bool]
) -> Infrastructure:
    servers, kafka_kind, idempotent = kafka_server
    database_url, postgres_kind = postgres_server
    return Infrastructure(servers, database_url, kafka_kind, postgres_kind, idempotent)


@pytest.fixture(scope="session")
async def template_database(postgres_server: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database that each test's database is copied from (CREATE DATABASE … TEMPLATE)."""
    name = f"pb_template_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server[0])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        connection = await asyncpg.connect(database_url_for(postgres_server[0], name))
        try:
            await migrate(connection)
        finally:
            await connection.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(
    postgres_server: tuple[str, str], template_database: str
) -> AsyncIterator[str]:
    async with scratch_database(postgres_server[0], "pb_test", template_database) as url:
        yield url


@pytest.fixture
async def empty_database(postgres_server: tuple[str, str]) -> AsyncIterator[str]:
    """A database no migration ever touched (the migration runner's and the wheel's tests)."""
    async with scratch_database(postgres_server[0], "pb_empty") as url:
        yield url


@pytest.fixture
async def new_database(
    postgres_server: tuple[str, str], template_database: str
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """More migrated databases for one test, dropped after it: `url = await new_database()`."""
    async with contextlib.AsyncExitStack() as databases:

        async def create() -> str:
            return await databases.enter_async_context(
                scratch_database(postgres_server[0], "pb_test", template_database)
            )

        yield create


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 4, 30)
    yield pool
    await pool.close()


@pytest.fixture
def settings(infrastructure: Infrastructure, database_url: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
        database_url=database_url,
        topic_prefix=f"test-{tag}",
        consumer_group=f"test-{tag}",
        kafka_enable_idempotence=infrastructure.idempotent_producer,
        http_port=0,
        consume_batch_timeout_ms=10,
        relay_poll_interval_seconds=0.25,
        retention_interval_seconds=3600,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    """The real FastStream application, consuming its own topics on the real broker."""
    service = Service(settings)
    await service.app.start()
    try:
        yield service
    finally:
        await service.app.stop()


@pytest.fixture
async def client(service: Service, settings: Settings) -> AsyncIterator[CommandClient]:
    async with CommandClient(settings) as command_client:
        yield command_client


@pytest.fixture
def service_run(
    infrastructure: Infrastructure, database_url: str, tmp_path: Path
) -> Iterator[RunFactory]:
    """Makes `ServiceRun`s: `service_run(name, bootstrap=…, database_url=…, log=…, **env)`,
    on the session's broker and the test's database unless told otherwise; every process any
    of them started that still runs at the end is killed."""
    runs: list[ServiceRun] = []

    def make(
        name: str,
        *,
        bootstrap: str | None = None,
        database_url: str = database_url,
        log: str = "service.log",
        **env: str,
    ) -> ServiceRun:
        run = ServiceRun(
            bootstrap or infrastructure.kafka_bootstrap_servers,
            database_url,
            tmp_path / log,
            name,
            **env,
        )
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.kill_all()
