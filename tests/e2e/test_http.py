"""The HTTP side of `program-builder run`: liveness, readiness, Prometheus metrics, AsyncAPI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from service.config import Settings
from service.embedded import free_port
from service.entrypoints.app import Runtime, build_app
from tests.client import CommandClient


@pytest.fixture
async def http_service(settings: Settings) -> AsyncIterator[tuple[str, Runtime]]:
    port = free_port()
    app, runtime = build_app(settings.model_copy(update={"http_port": port}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", runtime
    finally:
        server.should_exit = True
        await serving


async def test_probes_metrics_and_docs(http_service: tuple[str, Runtime], settings: Settings) -> None:
    base, runtime = http_service
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
        metrics = (await http.get("/metrics")).text
        assert 'program_builder_commands_total{error_code="",outcome="applied",type="program.create"} 1.0' in metrics
        assert (
            'program_builder_commands_total{error_code="validation_failed",outcome="rejected",type="program.update"} 1.0'
            in metrics
        )
        assert "program_builder_outbox_backlog" in metrics
        assert "faststream_received_messages_total" in metrics
        docs = await http.get("/docs/asyncapi")
        assert docs.status_code == 200

        # Not ready while the database is unreachable.
        assert runtime.pool is not None
        await runtime.pool.close()
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert "database" in ready.text
