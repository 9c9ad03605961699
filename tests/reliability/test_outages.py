"""The database and the broker taken away for real, mid-stream, under a service process.

PostgreSQL (an embedded server of this test's own) is stopped and started again on its data
directory; the broker sits behind a TCP proxy that the test closes (cutting every connection)
and opens again, since the embedded broker keeps nothing across a restart. The service must not
exit, not spin, report not-ready meanwhile, and afterwards have answered every command exactly as
the domain core predicts, with nothing lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from contracts.topics import Topics
from service.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from service.storage.database import create_pool
from service.storage.migrations import migrate
from tests.infrastructure import Infrastructure
from tests.reliability.harness import (
    OutputReader,
    StreamBuilder,
    produce,
    scaled,
    wait_relayed,
    wait_until,
)
from tests.support.process import ServiceProcess, service_env
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.reliability


async def cpu_percent(process: ServiceProcess, seconds: float = 2.0) -> float:
    assert process.process is not None
    handle = psutil.Process(process.process.pid)
    handle.cpu_percent(None)
    await asyncio.sleep(seconds)
    return float(handle.cpu_percent(None))


async def readiness(port: int) -> int:
    async with httpx.AsyncClient() as http:
        try:
            return (await http.get(f"http://127.0.0.1:{port}/readyz", timeout=5)).status_code
        except httpx.HTTPError:
            return 0


async def wait_readiness(port: int, status: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (current := await readiness(port)) != status:
        assert asyncio.get_running_loop().time() < deadline, f"/readyz {current}, not {status}"
        await asyncio.sleep(0.2)


async def assert_as_predicted(
    builder: StreamBuilder, reader: OutputReader, database_url: str
) -> None:
    """Every command answered once, as the domain core decided; programs at the versions the
    domain core reached; the events all relayed."""
    results = reader.outputs
    for command_id, expected in builder.expected.items():
        assert results.outcome_of(command_id) and {
            status for status, _, _ in results.outcome_of(command_id)
        } == {expected}, (command_id, results.results[command_id])
    pool = await create_pool(database_url, 2, 30)
    try:
        versions = dict(await pool.fetch("SELECT id, version FROM programs"))
        assert versions == {
            program_id: program.version
            for program_id, program in builder.programs.items()
            if program is not None
        }
        assert await pool.fetchval("SELECT count(*) FROM inbox") == len(builder.expected)
        await wait_relayed(pool, reader, 60)
    finally:
        await pool.close()


async def test_database_restart_mid_stream(infrastructure: Infrastructure, tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pgdata", durable=True)
    await asyncio.to_thread(postgres.start)
    process: ServiceProcess | None = None
    reader: OutputReader | None = None
    try:
        connection = await asyncpg.connect(postgres.url)
        await migrate(connection)
        await connection.close()
        builder = StreamBuilder(seed=11)
        messages = builder.build(scaled(3000), programs=30)
        prefix = f"rel-db-{uuid.uuid4().hex[:8]}"
        http_port = free_port()
        bootstrap = infrastructure.kafka_bootstrap_servers
        process = ServiceProcess(
            service_env(bootstrap, postgres.url, prefix, HTTP_PORT=str(http_port)),
            tmp_path / "service.log",
        )
        process.start()
        await wait_readiness(http_port, 204, 60)
        reader = OutputReader(bootstrap, Topics(prefix))
        await reader.start()
        await produce(bootstrap, Topics(prefix).commands, messages)
        await wait_until(lambda: len(reader.outputs.results) > 300, 60, "300 results")

        await asyncio.to_thread(postgres.stop)
        await wait_readiness(http_port, 503, 15)
        assert await cpu_percent(process) < 50, "no busy loop while the database is down"
        assert process.alive()
        answered_while_down = len(reader.outputs.results)
        await asyncio.sleep(1)
        await asyncio.to_thread(postgres.start)

        await wait_until(
            lambda: set(builder.expected) <= reader.outputs.results.keys(), 120, "all results"
        )
        await wait_readiness(http_port, 204, 30)
        await assert_as_predicted(builder, reader, postgres.url)
        assert answered_while_down < len(builder.expected), "the outage hit mid-stream"
        assert process.terminate() == 0
    finally:
        if reader is not None:
            await reader.stop()
        if process is not None and process.alive():
            process.kill()
        await asyncio.to_thread(postgres.stop)


async def test_broker_unreachable_at_start_and_mid_stream(
    database_url: str, tmp_path: Path
) -> None:
    proxy_port = free_port()
    broker = EmbeddedBroker(advertised_port=proxy_port)
    await asyncio.to_thread(broker.start)
    proxy = TcpProxy(proxy_port, broker.port)
    prefix = f"rel-kafka-{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    process = ServiceProcess(
        service_env(broker.bootstrap_servers, database_url, prefix, HTTP_PORT=str(http_port)),
        tmp_path / "service.log",
    )
    reader: OutputReader | None = None
    try:
        # Started while nothing answers on the broker's address: it waits, without spinning.
        process.start()
        await asyncio.sleep(3)
        assert process.alive(), process.log.read_text()[-2000:]
        assert await cpu_percent(process) < 50
        await proxy.open()
        await wait_readiness(http_port, 204, 60)

        builder = StreamBuilder(seed=12)
        messages = builder.build(scaled(3000), programs=30)
        reader = OutputReader(broker.bootstrap_servers, Topics(prefix))
        await reader.start()
        await produce(broker.bootstrap_servers, Topics(prefix).commands, messages)
        await wait_until(lambda: len(reader.outputs.results) > 300, 60, "300 results")

        await proxy.close()
        await wait_readiness(http_port, 503, 15)
        assert await cpu_percent(process) < 50, "no busy loop while the broker is unreachable"
        assert process.alive()
        await asyncio.sleep(2)
        await proxy.open()

        await wait_until(
            lambda: set(builder.expected) <= reader.outputs.results.keys(), 120, "all results"
        )
        await assert_as_predicted(builder, reader, database_url)
        assert process.terminate() == 0
    finally:
        if reader is not None:
            await reader.stop()
        if process.alive():
            process.kill()
        await proxy.close()
        await asyncio.to_thread(broker.stop)
