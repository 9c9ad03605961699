"""The loop end to end: a command produced with aiokafka is consumed by the running FastStream
app, written to PostgreSQL, and its result comes back on the results topic."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support.kafka import CommandClient


async def test_command_round_trip(client: CommandClient, pool: asyncpg.Pool) -> None:
    program_id = str(uuid.uuid4())
    result = await client.run("program.create", program_id, name="Hypertrophy A", weeks=4)

    assert result["status"] == "applied"
    assert result["programVersion"] == 1
    row = await pool.fetchrow(
        "SELECT tenant_id, name, weeks, version FROM programs WHERE id = $1", uuid.UUID(program_id)
    )
    assert dict(row) == {"tenant_id": "tenant-a", "name": "Hypertrophy A", "weeks": 4, "version": 1}
