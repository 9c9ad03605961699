"""A commandId belongs to the tenant that used it first (CONTRACT.md, Results), on real
PostgreSQL through the service layer: in one batch and across batches, for applied and rejected
first outcomes, and for a first command that carried no valid tenantId."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from service.apply.processor import CommandProcessor
from tests.integration.test_processor import TOPICS, command, outbox, process, processor, record

pytestmark = pytest.mark.integration
__all__ = ["processor"]  # the fixture, shared with test_processor


def taken(command_id: str, kind: str, program: str) -> dict[str, object]:
    """The one answer another tenant gets: its own type and programId, nothing of the first."""
    return {
        "commandId": command_id,
        "type": kind,
        "programId": program,
        "status": "rejected",
        "programVersion": None,
        "error": {
            "code": "conflict",
            "message": f"commandId {command_id} was already used by another tenant; a commandId "
            "belongs to the tenant that used it first: send this command with a new commandId",
            "details": [{"path": "commandId", "reason": "already used by another tenant"}],
        },
        "sync": None,
    }


async def answers(pool: asyncpg.Pool, command_id: str) -> list[dict[str, object]]:
    found = []
    for row in await outbox(pool):
        value = json.loads(row["value"]) if row["topic"] == TOPICS.command_results else None
        if value is not None and value["commandId"] == command_id:
            value.pop("processedAt")
            found.append(value)
    return found


@pytest.mark.parametrize("same_batch", [True, False])
async def test_another_tenant_reusing_an_applied_command_id_gets_conflict(
    processor: CommandProcessor, pool: asyncpg.Pool, same_batch: bool
) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    first = command("program.create", mine, name="A's")
    reuse = {**command("program.update", theirs, name="B's"), "tenantId": "tenant-b"}
    reuse["commandId"] = first["commandId"]
    if same_batch:
        outcomes = await process(processor, record(first, 0), record(reuse, 1))
    else:
        outcomes = await process(processor, record(first, 0))
        outcomes += await process(processor, record(reuse, 1))
    assert [(o.status, o.error_code) for o in outcomes] == [
        ("applied", None),
        ("rejected", "conflict"),
    ]
    assert (await answers(pool, first["commandId"]))[1] == taken(
        first["commandId"], "program.update", theirs
    )
    # Never recorded: the id stays the first tenant's, whose retry is its duplicate.
    assert await pool.fetchval("SELECT tenant_id FROM inbox") == "t"
    outcomes = await process(processor, record(first, 2))
    assert [o.status for o in outcomes] == ["duplicate"]
    assert (await answers(pool, first["commandId"]))[-1]["programVersion"] == 1


async def test_a_rejected_first_outcome_is_not_told_to_another_tenant(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    missing = str(uuid.uuid4())
    first = command("session.add", missing, sessionId=str(uuid.uuid4()), name="Day")
    await process(processor, record(first, 0))
    program = str(uuid.uuid4())
    reuse = {**command("program.create", program, name="B's"), "tenantId": "tenant-b"}
    reuse["commandId"] = first["commandId"]
    await process(processor, record(reuse, 1))
    first_answer, second_answer = await answers(pool, first["commandId"])
    assert first_answer["error"]["code"] == "not_found"  # type: ignore[index]
    assert second_answer == taken(first["commandId"], "program.create", program)
    assert await pool.fetchval("SELECT count(*) FROM programs") == 0


async def test_a_first_command_without_a_valid_tenant_owns_its_id_too(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    program = str(uuid.uuid4())
    first = {**command("program.create", program, name="No tenant"), "tenantId": ""}
    await process(processor, record(first, 0))
    reuse = command("program.create", program, name="Valid tenant")
    reuse["commandId"] = first["commandId"]
    outcomes = await process(processor, record(reuse, 1), record(first, 2))
    assert [(o.status, o.error_code) for o in outcomes] == [
        ("rejected", "conflict"),
        ("duplicate", None),
    ]
    assert await pool.fetchval("SELECT tenant_id FROM inbox") is None
    assert await pool.fetchval("SELECT count(*) FROM programs") == 0
