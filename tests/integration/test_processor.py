"""The service layer on real PostgreSQL, without a broker: what `CommandProcessor` commits for
a batch (state, inbox, outbox rows of results, events and dead letters), its fallback to one
record at a time, the mapping of a refused constraint to a rejection, and reply-to."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from contracts.dlq import HEADER_CORRELATION_ID, HEADER_ERROR_CODE, HEADER_REPLY_TO
from contracts.topics import Topics
from service.apply import unit_of_work
from service.apply.outcomes import PROCESSING_FAILED, Outcome
from service.apply.processor import CommandProcessor
from service.apply.wire import Messages, Record
from service.domain.commands import Reads

pytestmark = pytest.mark.integration

TOPICS = Topics("itest")


def record(body: dict[str, Any] | bytes, offset: int = 0, **headers: bytes) -> Record:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    key = body["programId"].encode() if isinstance(body, dict) else None
    return Record(TOPICS.commands, 0, offset, key, value, tuple(headers.items()))


def command(kind: str, program: str, **fields: Any) -> dict[str, Any]:
    return {
        "commandId": str(uuid.uuid4()),
        "type": kind,
        "tenantId": "t",
        "programId": program,
        **fields,
    }


async def outbox(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT topic, key, value, header_names, header_values FROM outbox ORDER BY id"
    )
    return [
        {
            "topic": row["topic"],
            "key": row["key"],
            "value": row["value"],
            "headers": dict(zip(row["header_names"], row["header_values"], strict=True)),
        }
        for row in rows
    ]


def results(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        json.loads(row["value"])["commandId"]: json.loads(row["value"])
        for row in rows
        if row["topic"] == TOPICS.command_results
    }


@pytest.fixture
def processor(pool: asyncpg.Pool) -> CommandProcessor:
    return CommandProcessor(pool, Messages(TOPICS))


async def process(processor: CommandProcessor, *records: Record) -> list[Outcome]:
    return await processor.process(list(records), asyncio.Event())


async def test_a_batch_commits_state_inbox_results_and_events_together(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    program = str(uuid.uuid4())
    create = command("program.create", program, name="Block")
    day = command("session.add", program, sessionId=str(uuid.uuid4()), name="Day 1")
    outcomes = await process(processor, record(create, 0), record(day, 1), record(day, 2))
    assert [o.status for o in outcomes] == ["applied", "applied", "duplicate"]
    rows = await outbox(pool)
    assert [r["topic"] for r in rows] == [
        TOPICS.command_results,
        TOPICS.program_updated,
        TOPICS.command_results,
        TOPICS.session_updated,
        TOPICS.program_updated,
        TOPICS.command_results,
    ]
    assert json.loads(rows[-1]["value"])["status"] == "duplicate"
    assert json.loads(rows[-1]["value"])["programVersion"] == 2
    assert await pool.fetchval("SELECT version FROM programs") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2


async def test_an_id_taken_by_another_program_in_the_same_batch_is_a_conflict_for_the_second(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    """Neither command sees the id in the database, so both pass the domain's check; the batch
    then breaks the unique constraint, is redone record by record, and the database's refusal
    becomes the second command's `conflict`, while everything else still applies."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await process(
        processor,
        record(command("program.create", first, name="A")),
        record(command("program.create", second, name="B")),
    )
    shared = str(uuid.uuid4())
    take = command("session.add", first, sessionId=shared, name="Day 1")
    clash = command("session.add", second, sessionId=shared, name="Day 1")
    other = command("program.update", second, name="Renamed")
    outcomes = await process(processor, record(take), record(clash), record(other))
    assert [(o.status, o.error_code) for o in outcomes] == [
        ("applied", None),
        ("rejected", "conflict"),
        ("applied", None),
    ]
    answered = results(await outbox(pool))
    assert answered[clash["commandId"]]["error"]["code"] == "conflict"
    assert "already in use" in answered[clash["commandId"]]["error"]["message"]
    assert await pool.fetchval("SELECT name FROM programs WHERE id = $1", uuid.UUID(second)) == (
        "Renamed"
    )
    stored = await pool.fetchrow(
        "SELECT status FROM inbox WHERE command_id = $1", clash["commandId"]
    )
    assert stored is not None and stored["status"] == "rejected"


async def test_unreadable_and_failing_records_go_to_the_dlq_and_the_rest_applies(
    processor: CommandProcessor, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = str(uuid.uuid4())
    create = command("program.create", program, name="A")
    poison = command("program.update", program, name="Poison")
    after = command("program.update", program, name="After")
    original = unit_of_work.apply

    def failing(program: Any, cmd: Any, context: Any) -> Any:
        if str(cmd.command_id) == poison["commandId"]:
            raise ValueError("a bug, not the command's fault")
        return original(program, cmd, context)

    monkeypatch.setattr(unit_of_work, "apply", failing)
    outcomes = await process(
        processor, record(create), record(b"\xff not json", 1), record(poison, 2), record(after, 3)
    )
    assert [(o.status, o.error_code) for o in outcomes] == [
        ("applied", None),
        ("dead_letter", "not_json"),
        ("dead_letter", PROCESSING_FAILED),
        ("applied", None),
    ]
    letters = [r for r in await outbox(pool) if r["topic"] == TOPICS.dead_letters]
    assert [r["value"] for r in letters] == [b"\xff not json", json.dumps(poison).encode()]
    assert letters[1]["headers"][HEADER_ERROR_CODE] == b"processing_failed"
    assert b"ValueError" in letters[1]["headers"]["x-error-message"]
    assert letters[1]["headers"]["x-original-offset"] == b"2"
    assert await pool.fetchval("SELECT name FROM programs") == "After"


async def test_reply_to_gets_a_copy_with_the_correlation_id_unless_it_names_our_topic(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    asked = command("program.create", str(uuid.uuid4()), name="A")
    ours = command("program.create", str(uuid.uuid4()), name="B")
    await process(
        processor,
        record(asked, **{HEADER_REPLY_TO: b"team.replies", HEADER_CORRELATION_ID: b"\x01\x02"}),
        record(ours, **{HEADER_REPLY_TO: TOPICS.session_updated.encode()}),
    )
    rows = [r for r in await outbox(pool) if json.loads(r["value"]).get("commandId")]
    copies = [(r["topic"], json.loads(r["value"])["commandId"]) for r in rows]
    assert copies == [
        (TOPICS.command_results, asked["commandId"]),
        ("team.replies", asked["commandId"]),
        (TOPICS.command_results, ours["commandId"]),
    ]
    assert rows[1]["value"] == rows[0]["value"]
    assert rows[1]["headers"][HEADER_CORRELATION_ID] == b"\x01\x02"


async def test_a_command_that_reads_more_than_declared_loads_it_and_applies(
    processor: CommandProcessor, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reads_of` is an optimisation: if it under-declares, the domain names what is missing and
    the processor loads it and applies again, with the same outcome."""
    program, session, exercise = (str(uuid.uuid4()) for _ in range(3))
    await process(
        processor,
        record(command("program.create", program, name="A")),
        record(command("session.add", program, sessionId=session, name="Day")),
        record(
            command(
                "exercise.add",
                program,
                sessionId=session,
                programExerciseId=exercise,
                exerciseId=str(uuid.uuid4()),
                name="Squat",
                series=[{"reps": 5}],
            )
        ),
    )
    monkeypatch.setattr(unit_of_work, "reads_of", lambda program, cmd: Reads())
    edit = command("series.update", program, programExerciseId=exercise, index=0, set={"reps": 3})
    outcomes = await process(processor, record(edit))
    assert [o.status for o in outcomes] == ["applied"]
    series = await pool.fetchval("SELECT series FROM prescriptions")
    assert series == [{"orderIndex": 0, "setType": "working", "reps": 3}]
