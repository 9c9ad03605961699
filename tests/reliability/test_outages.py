"""The database and the broker taken away for real, mid-stream, under a service process.

PostgreSQL (an embedded server of this test's own) is stopped and started again on its data
directory; the broker sits behind a TCP proxy that the test closes (cutting every connection)
and opens again, since the embedded broker keeps nothing across a restart. The service must not
exit, not spin, report not-ready meanwhile, and afterwards have answered every command exactly as
the domain core predicts, with nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import psutil
import pytest

from devstack.children import free_port
from devstack.postgres import EmbeddedPostgres
from service.storage.migrations import migrate
from tests.support.brokers import own_broker
from tests.support.flow import assert_as_predicted
from tests.support.generator import CommandGenerator, assert_everything_drawn
from tests.support.infrastructure import Infrastructure
from tests.support.kafka import CommandClient
from tests.support.process import ServiceProcess
from tests.support.proxy import TcpProxy
from tests.support.runs import RunFactory
from tests.support.scale import scaled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.reliability


async def cpu_percent(process: ServiceProcess, seconds: float = 2.0) -> float:
    assert process.process is not None
    handle = psutil.Process(process.process.pid)
    handle.cpu_percent(None)
    await asyncio.sleep(seconds)
    return float(handle.cpu_percent(None))


async def test_database_restart_mid_stream(service_run: RunFactory, tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pgdata", durable=True)
    await asyncio.to_thread(postgres.start)
    run = service_run("rel-db", database_url=postgres.url, HTTP_PORT=str(free_port()))
    reader: CommandClient | None = None
    try:
        connection = await asyncpg.connect(postgres.url)
        await migrate(connection)
        await connection.close()
        builder = CommandGenerator(seed=11, programs=30, tenant_id="tenant-r")
        messages = builder.messages(scaled(3000))
        assert_everything_drawn([builder])  # every command type and feature
        process = run.start()
        await process.wait_readiness(204, 60)
        reader = run.client()
        await reader.start()
        await reader.publish_all(messages)
        await wait_until(lambda: len(reader.results) > 300, 60, "300 results")

        await asyncio.to_thread(postgres.stop)
        await process.wait_readiness(503, 15)
        assert await cpu_percent(process) < 50, "no busy loop while the database is down"
        assert process.alive()
        answered_while_down = len(reader.results)
        await asyncio.sleep(1)
        await asyncio.to_thread(postgres.start)

        await wait_until(lambda: set(builder.expected) <= reader.results.keys(), 120, "all results")
        await process.wait_readiness(204, 30)
        await assert_as_predicted(builder, reader, postgres.url)
        assert answered_while_down < len(builder.expected), "the outage hit mid-stream"
        assert process.terminate() == 0
    finally:
        if reader is not None:
            await reader.stop()
        run.kill_all()
        await asyncio.to_thread(postgres.stop)


async def test_broker_unreachable_at_start_and_mid_stream(
    service_run: RunFactory, database_url: str, infrastructure: Infrastructure, tmp_path: Path
) -> None:
    proxy_port = free_port()
    broker = own_broker(infrastructure, tmp_path, advertised_port=proxy_port)
    await asyncio.to_thread(broker.start)
    proxy = TcpProxy(proxy_port, broker.port)
    run = service_run("rel-kafka", bootstrap=broker.bootstrap_servers, HTTP_PORT=str(free_port()))
    process = run.process()
    reader: CommandClient | None = None
    try:
        # Started while nothing answers on the broker's address: it waits, without spinning.
        process.start()
        await asyncio.sleep(3)
        assert process.alive(), run.output()
        assert await cpu_percent(process) < 50
        await proxy.open()
        await process.wait_readiness(204, 60)

        builder = CommandGenerator(seed=12, programs=30, tenant_id="tenant-r")
        messages = builder.messages(scaled(3000))
        assert_everything_drawn([builder])
        reader = run.client()
        await reader.start()
        await reader.publish_all(messages)
        await wait_until(lambda: len(reader.results) > 300, 60, "300 results")

        await proxy.close()
        await process.wait_readiness(503, 15)
        assert await cpu_percent(process) < 50, "no busy loop while the broker is unreachable"
        assert process.alive()
        await asyncio.sleep(2)
        await proxy.open()

        await wait_until(lambda: set(builder.expected) <= reader.results.keys(), 120, "all results")
        await assert_as_predicted(builder, reader, database_url)
        assert process.terminate() == 0
    finally:
        if reader is not None:
            await reader.stop()
        run.kill_all()
        await proxy.close()
        await asyncio.to_thread(broker.stop)
