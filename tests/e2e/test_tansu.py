"""The path for machines without Java: the embedded Tansu broker, whatever broker the rest of the
suite runs on. A command's round trip on it, with the idempotent producer off as Tansu needs;
and, with it on, the service and the bulk import stop at once with one line that names
KAFKA_ENABLE_IDEMPOTENCE (Tansu refuses InitProducerId), never a traceback or a retry loop."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.children import free_port
from devstack.tansu import EmbeddedBroker
from service.config import Settings
from service.process.app import Service
from tests.support.kafka import CommandClient
from tests.support.process import SCRIPT, ServiceProcess, service_env


@pytest.fixture(scope="module")
def tansu() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_a_command_round_trip_on_tansu(
    tansu: EmbeddedBroker, settings: Settings, pool: asyncpg.Pool
) -> None:
    settings = settings.model_copy(
        update={
            "kafka_bootstrap_servers": tansu.bootstrap_servers,
            "kafka_enable_idempotence": False,
        }
    )
    service = Service(settings)
    await service.app.start()
    try:
        async with CommandClient(settings) as client:
            program_id = str(uuid.uuid4())
            result = await client.run("program.create", program_id, name="On Tansu", weeks=2)
            assert result["status"] == "applied", result
            await client.wait_for(lambda: len(client.program_events(result["commandId"])) == 1, 20)
    finally:
        await service.app.stop()
    row = await pool.fetchrow(
        "SELECT name, weeks FROM programs WHERE id = $1", uuid.UUID(program_id)
    )
    assert dict(row) == {"name": "On Tansu", "weeks": 2}


async def test_idempotence_on_against_tansu_stops_with_one_line(
    tansu: EmbeddedBroker, database_url: str, tmp_path: Path
) -> None:
    prefix = f"tansu-{uuid.uuid4().hex[:8]}"
    environment = service_env(
        tansu.bootstrap_servers,
        database_url,
        prefix,
        KAFKA_ENABLE_IDEMPOTENCE="true",
        HTTP_PORT=str(free_port()),
        LOG_LEVEL="INFO",
        LOG_FORMAT="text",
    )
    process = ServiceProcess(environment, tmp_path / "run.log")
    process.start()
    ended = await process.exited(60)
    output = process.output()
    assert ended.status == 1, output
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert "KAFKA_ENABLE_IDEMPOTENCE" in last, output
    assert "idempotent producer" in last, output
    print(f"run, idempotence on, Tansu: status {ended.status} in {ended.seconds:.1f} s: {last}")

    (tmp_path / "one.jsonl").write_text('{"not": "a program"}\n')
    imported = await asyncio.to_thread(
        subprocess.run,
        [str(SCRIPT), "import", str(tmp_path / "one.jsonl")],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 2, imported.stderr
    assert "Traceback" not in imported.stderr
    line = imported.stderr.strip().splitlines()[-1]
    assert "KAFKA_ENABLE_IDEMPOTENCE" in line, imported.stderr
    print(f"import, idempotence on, Tansu: status 2: {line}")
