"""The HTTP side of `program-builder run`: liveness, readiness, Prometheus metrics, AsyncAPI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn

from devstack.children import free_port
from service.config import Settings
from service.process.app import Service
from tests.support.infrastructure import Infrastructure
from tests.support.kafka import CommandClient


@pytest.fixture
async def http_service(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    app = Service(settings.model_copy(update={"http_port": port})).app
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def test_probes_metrics_and_docs(
    http_service: str, settings: Settings, infrastructure: Infrastructure
) -> None:
    base = http_service
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/healthz")).status_code == 204
        for _ in range(100):  # ready once the consumer runs
            if (await http.get("/readyz")).status_code == 204:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 204
        async with CommandClient(settings) as client:
            program = str(uuid.uuid4())
            await client.applied("program.create", program, name="Metrics")
            await client.run("program.update", program, weeks=99)  # validation_failed
        applied = 'error_code="",outcome="applied",type="program.create"'
        rejected = 'error_code="validation_failed",outcome="rejected",type="program.update"'
        counted = [
            f"program_builder_commands_total{{{labels}}} 1.0" for labels in (applied, rejected)
        ]
        for _ in range(100):  # a batch is counted after its offset commit, which follows its result
            metrics = (await http.get("/metrics")).text
            if all(line in metrics for line in counted):
                break
            await asyncio.sleep(0.05)
        for line in counted:
            assert line in metrics
        assert "program_builder_outbox_backlog" in metrics
        assert 'program_builder_consumer_lag{partition="' in metrics
        assert "faststream_received_messages_total" in metrics
        docs = await http.get("/docs/asyncapi")
        assert docs.status_code == 200

        # Not ready while the database refuses connections; ready again once it is back.
        database = settings.database_url.get_secret_value().rsplit("/", 1)[1]
        admin = await asyncpg.connect(infrastructure.database_url)
        try:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert "database" in ready.text
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await admin.close()
        for _ in range(100):
            if (await http.get("/readyz")).status_code == 204:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 204
