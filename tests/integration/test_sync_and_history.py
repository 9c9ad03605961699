"""`program.sync` and `program.revert` on real PostgreSQL through `CommandProcessor`: what
the database holds after each equals what the domain computes in memory, a dry run writes
nothing but its result, a duplicate carries the same sync report, the kept versions are written
and pruned, and migration 0008 recovers the origins of copies made before it."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from service.apply.processor import CommandProcessor
from service.apply.wire import Messages
from service.domain.ids import uuid5
from service.domain.model import Program
from service.storage import history, programs
from service.storage.migrations import default_directory, migrate
from tests.integration.test_processor import TOPICS, command, outbox, process, record, results
from tests.support.domain import Programs
from tests.support.generator import CommandGenerator

pytestmark = pytest.mark.integration


def sets(reps: int, kg: float) -> list[dict[str, Any]]:
    return [{"reps": reps, "load": {"value": kg, "unit": "kg"}}] * 3


class Both:
    """Each command applied through the processor to PostgreSQL and by the domain in memory."""

    def __init__(self, processor: CommandProcessor, pool: asyncpg.Pool) -> None:
        self.processor = processor
        self.pool = pool
        self.memory = Programs(tenant_id="t")
        self.offset = 0
        self.in_memory: dict[str, Any] = {}  # the domain's result of the last command

    async def send(self, document: dict[str, Any]) -> dict[str, Any]:
        self.offset += 1
        await process(self.processor, record(document, self.offset))
        self.in_memory = self.memory.request(document)
        return results(await outbox(self.pool))[document["commandId"]]

    async def applied(self, kind: str, program: str, **fields: Any) -> dict[str, Any]:
        result = await self.send(command(kind, program, **fields))
        assert result["status"] == "applied", result
        return result

    async def stored(self, program_id: str) -> Program:
        async with self.pool.acquire() as connection, connection.transaction():
            loaded = await programs.lock_and_load(connection, [UUID(program_id)])
            await programs.load_prescriptions(connection, loaded, whole_programs=list(loaded))
        return loaded[UUID(program_id)]

    async def assert_same(self, program_id: str) -> None:
        stored = await self.stored(program_id)
        memory = self.memory.programs[UUID(program_id)]
        for name in ("name", "weeks", "version", "week_labels", "source", "start_date"):
            assert getattr(stored, name) == getattr(memory, name), name
        assert stored.removed_origins == memory.removed_origins
        assert stored.sessions == memory.sessions
        assert {e: dict(w) for e, w in stored.prescriptions.items() if w} == {
            e: dict(w) for e, w in memory.prescriptions.items() if w
        }


@pytest.fixture
def both(pool: asyncpg.Pool) -> Both:
    return Both(CommandProcessor(pool, Messages(TOPICS)), pool)


async def a_template(both: Both) -> dict[str, str]:
    ids = {k: str(uuid.uuid4()) for k in ("program", "a", "b", "squat", "bench", "group")}
    t = ids["program"]
    await both.applied("program.create", t, name="Template", weeks=3)
    await both.applied("session.add", t, sessionId=ids["a"], name="A")
    await both.applied("session.add", t, sessionId=ids["b"], name="B")
    await both.applied(
        "exercise.add", t, sessionId=ids["a"], programExerciseId=ids["squat"],
        exerciseId=str(uuid.uuid4()), name="Squat", series=sets(5, 100),
        warmup={"steps": [{"percent": 50, "reps": 5}]},
    )  # fmt: skip
    await both.applied(
        "exercise.add", t, sessionId=ids["b"], programExerciseId=ids["bench"],
        exerciseId=str(uuid.uuid4()), name="Bench", newGroupId=ids["group"], series=sets(5, 80),
    )  # fmt: skip
    await both.applied("week.copy", t, fromWeek=0, toWeeks=[1, 2])
    return ids


async def test_sync_dry_run_duplicate_and_revert_store_what_the_domain_computes(
    both: Both, pool: asyncpg.Pool
) -> None:
    ids = await a_template(both)
    copy = str(uuid.uuid4())
    copy_command = command("program.copy", ids["program"], newProgramId=copy)
    await both.send(copy_command)
    mine = str(uuid5(UUID(copy_command["commandId"]), ids["b"]))
    await both.applied("session.update", copy, sessionId=mine, name="B (mine)")
    await both.assert_same(copy)
    await both.applied(
        "series.replace", ids["program"], programExerciseId=ids["squat"], week=2,
        series=sets(2, 130),
    )  # fmt: skip
    new_session = str(uuid.uuid4())
    await both.applied("session.add", ids["program"], sessionId=new_session, name="C")

    rows_before = len(await outbox(pool))
    stored_before = await both.stored(copy)
    preview = await both.applied("program.sync", copy, dryRun=True)
    assert preview["programVersion"] == 2 and preview["sync"]["dryRun"] is True
    assert len(await outbox(pool)) == rows_before + 1  # its result, nothing else
    assert await both.stored(copy) == stored_before

    sync = command("program.sync", copy, fromWeek=1)
    result = await both.send(sync)
    assert [s["state"] for s in result["sync"]["sessions"]] == ["synced", "custom", "new"]
    assert result["sync"] == both.in_memory["sync"]
    await both.assert_same(copy)
    both.offset += 1
    await process(both.processor, record(sync, both.offset))  # the same command again
    duplicates = [
        json.loads(row["value"])
        for row in await outbox(pool)
        if row["topic"] == TOPICS.command_results
        and json.loads(row["value"])["commandId"] == sync["commandId"]
    ]
    assert [d["status"] for d in duplicates] == ["applied", "duplicate"]
    assert duplicates[1]["sync"] == duplicates[0]["sync"]

    await both.applied("program.revert", copy, toVersion=2)
    await both.assert_same(copy)
    assert (await both.stored(copy)).sessions == stored_before.sessions
    async with pool.acquire() as connection:
        kept = await connection.fetch(
            "SELECT version FROM program_history WHERE program_id = $1 ORDER BY version",
            UUID(copy),
        )
    assert [row["version"] for row in kept] == [2, 3, 4]  # none for the copy's creation


async def test_history_is_pruned_past_100_versions_and_a_revert_reaches_them(
    both: Both, pool: asyncpg.Pool
) -> None:
    ids = await a_template(both)
    t = ids["program"]
    for n in range(105):
        await both.applied("program.update", t, name=f"Template {n}")
    version = both.memory.programs[UUID(t)].version
    async with pool.acquire() as connection:
        versions = [
            row["version"]
            for row in await connection.fetch(
                "SELECT version FROM program_history WHERE program_id = $1", UUID(t)
            )
        ]
        kept, size = await history.size(connection)
    assert min(versions) > (version // 10 * 10) - 100 and max(versions) == version
    assert len(versions) <= 110
    assert kept >= len(versions) and size > 0
    await both.applied("program.revert", t, toVersion=version - 100)
    await both.assert_same(t)
    assert (await both.stored(t)).name == f"Template {version - 100 - 7}"


async def test_a_revert_that_would_take_an_id_another_program_holds_is_a_conflict(
    both: Both,
) -> None:
    ids = await a_template(both)
    t = ids["program"]
    await both.applied("session.remove", t, sessionId=ids["a"])
    other = str(uuid.uuid4())
    await both.applied("program.create", other, name="Other")
    await both.applied("session.add", other, sessionId=ids["a"], name="Took it")
    refused = await both.send(command("program.revert", t, toVersion=6))
    assert refused["status"] == "rejected" and refused["error"]["code"] == "conflict", refused
    await both.assert_same(t)


async def test_migration_0008_recovers_the_origins_of_copies_made_before_it(
    empty_database: str, tmp_path: Path
) -> None:
    """Copies stored as v1.2 left them (ids uuid5(commandId, sourceId), the copy command in the
    inbox): those whose command is known get their origins, the other is marked unknown."""
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(default_directory().glob("*.sql")):
        if path.name < "0008":
            shutil.copy(path, before / path.name)
    connection = await asyncpg.connect(empty_database)
    try:
        await migrate(connection, before)
        template, session, group, exercise = (uuid.uuid4() for _ in range(4))
        known, forgotten, edited = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        known_by, forgotten_by, edited_by = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await connection.execute(
            "INSERT INTO programs (id, tenant_id, name, weeks, version)"
            " VALUES ($1, 't', 'T', 1, 3)",
            template,
        )
        for copy, version in ((known, 1), (forgotten, 1), (edited, 4)):
            await connection.execute(
                "INSERT INTO programs (id, tenant_id, name, weeks, version, source_program_id,"
                " source_program_version) VALUES ($1, 't', 'C', 1, $3, $2, 3)",
                copy,
                template,
                version,
            )
        copies = ((known, known_by), (forgotten, forgotten_by), (edited, edited_by))
        for program, by in ((template, None), *copies):
            mapped = (lambda x: x) if by is None else (lambda x, by=by: uuid5(by, str(x)))
            await connection.execute(
                "INSERT INTO sessions (id, program_id, name, order_index) VALUES ($1, $2, 'S', 0)",
                mapped(session),
                program,
            )
            await connection.execute(
                "INSERT INTO exercise_groups (id, program_id, session_id, order_index)"
                " VALUES ($1, $2, $3, 0)",
                mapped(group),
                program,
                mapped(session),
            )
            await connection.execute(
                "INSERT INTO program_exercises (id, program_id, session_id, group_id,"
                " order_within_group, exercise_id, name) VALUES ($1, $2, $3, $4, 0, $5, 'E')",
                mapped(exercise),
                program,
                mapped(session),
                mapped(group),
                uuid.uuid4(),
            )
        later = uuid.uuid4()  # a session of the template that no copy holds
        await connection.execute(
            "INSERT INTO sessions (id, program_id, name, order_index) VALUES ($1, $2, 'L', 1)",
            later,
            template,
        )
        own = uuid.uuid4()  # a session the copy added itself: no origin
        await connection.execute(
            "INSERT INTO sessions (id, program_id, name, order_index) VALUES ($1, $2, 'Own', 1)",
            own,
            known,
        )
        for by in (known_by, edited_by):
            await connection.execute(
                "INSERT INTO inbox (command_id, command_type, program_id, status,"
                " program_version, tenant_id) VALUES ($1, 'program.copy', $2, 'applied', 3, 't')",
                by,
                template,
            )
        assert await migrate(connection) == ["0008_sync_and_undo"]
        origins = {
            row["id"]: row["origin_id"]
            for table in ("sessions", "exercise_groups", "program_exercises")
            for row in await connection.fetch(f"SELECT id, origin_id FROM {table}")
        }
        assert origins[uuid5(known_by, str(session))] == session
        assert origins[uuid5(known_by, str(group))] == group
        assert origins[uuid5(known_by, str(exercise))] == exercise
        assert origins[own] is None
        assert origins[uuid5(forgotten_by, str(session))] is None
        flags = {
            row["id"]: (row["origins_known"], row["removed_origins"])
            for row in await connection.fetch(
                "SELECT id, origins_known, removed_origins::text FROM programs"
            )
        }
        assert flags == {
            template: (True, "[]"),
            known: (True, "[]"),  # never changed since the copy: a sync may take everything
            forgotten: (False, "[]"),
            edited: (True, f'["{later}"]'),  # changed: what it lacks may have been removed
        }
        marks = {
            row["id"]: row["customised"]
            for row in await connection.fetch("SELECT id, customised FROM sessions")
        }
        assert marks[uuid5(known_by, str(session))] is False
        assert marks[uuid5(edited_by, str(session))] is True
    finally:
        await connection.close()


@pytest.mark.parametrize(("seed", "size"), [(7, 30), (20261125, 50)])
async def test_a_random_stream_in_batches_answers_and_stores_as_predicted(
    both: Both, pool: asyncpg.Pool, seed: int, size: int
) -> None:
    """Every command type, syncs and reverts among them, many to one transaction: a revert
    reaches the versions earlier commands of its own batch made, a sync reads what they did to
    its source."""
    generator = CommandGenerator(seed=seed, programs=3, tenant_id="t")
    commands = generator.batch(300)
    for start in range(0, len(commands), size):
        chunk = commands[start : start + size]
        await process(both.processor, *(record(c, start + i) for i, c in enumerate(chunk)))
    answered = results(await outbox(pool))
    outcomes = {c["commandId"]: answered[c["commandId"]]["status"] for c in commands}
    assert outcomes == generator.expected
    assert {"program.sync", "program.revert"} <= generator.applied_types()
    both.memory = generator.model
    for program_id in generator.model.programs:
        await both.assert_same(str(program_id))


async def test_ids_a_revert_brings_back_are_taken_for_the_rest_of_its_batch(
    both: Both, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """A later command of the same transaction cannot take an id the revert brought back: it
    is refused as it is decided, not by the database at the write (which fails the batch and
    redoes it a record at a time)."""
    ids = await a_template(both)
    t = ids["program"]
    await both.applied("session.remove", t, sessionId=ids["a"])
    other = str(uuid.uuid4())
    await both.applied("program.create", other, name="Other")
    revert = command("program.revert", t, toVersion=6)
    take = command("session.add", other, sessionId=ids["a"], name="Takes it")
    both.offset += 2
    await process(both.processor, record(revert, both.offset - 1), record(take, both.offset))
    assert "applying its records one by one" not in caplog.text
    answered = results(await outbox(pool))
    assert answered[revert["commandId"]]["status"] == "applied"
    assert answered[take["commandId"]]["status"] == "rejected"
    assert answered[take["commandId"]]["error"]["code"] == "conflict"
    stored = await both.stored(t)
    assert UUID(ids["a"]) in {session.id for session in stored.sessions}
