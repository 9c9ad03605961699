"""The table descriptions of `service.storage.programs` against the schema: each column's type as
migrated, each statement's parameters, and every column of every table written and read back
through the single-row, the bulk (`unnest`) and the upsert statements."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from contracts.athletes import Athlete
from contracts.exercises import Alternative, Warmup
from contracts.groups import GroupFormat
from service.domain.changes import Changes
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
)
from service.storage import database, programs
from service.storage.programs import BULK_ROWS, TABLES, Table

pytestmark = pytest.mark.integration

_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atthasdef,
       a.atttypid::integer AS oid, t.typarray::integer AS array_oid
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
async def test_each_table_is_described_as_migrated(
    connection: asyncpg.Connection, table: Table
) -> None:
    schema = {row["name"]: row for row in await connection.fetch(_COLUMNS, table.name)}
    assert {c.name: c.type for c in table.columns} == {
        name: schema[name]["type"] for name in table.names
    }
    assert all(row["atthasdef"] for name, row in schema.items() if name not in table.names), (
        "a column the statements leave out has a default"
    )
    one = [schema[name]["oid"] for name in table.names]
    for statement in (table.insert, table.upsert):
        prepared = await connection.prepare(statement)
        assert [parameter.oid for parameter in prepared.get_parameters()] == one
    text_array = await connection.fetchval("SELECT 'text[]'::regtype::oid::integer")
    prepared = await connection.prepare(table.bulk)
    assert [parameter.oid for parameter in prepared.get_parameters()] == [
        text_array if column.json else schema[column.name]["array_oid"] for column in table.columns
    ]


class Recording:
    """The connection, recording the statements run on it."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.statements: list[str] = []

    async def execute(self, statement: str, *arguments: Any) -> str:
        self.statements.append(statement)
        return await self.connection.execute(statement, *arguments)

    async def executemany(self, statement: str, rows: Any) -> None:
        self.statements.append(statement)
        await self.connection.executemany(statement, rows)


def _build(tenant: str, number: Iterator[int]) -> Program:
    """A program of two sessions (a superset, then a single exercise), every field set, the
    values differing from column to column: a value stored in another column shows."""

    def exercise() -> ProgramExercise:
        n = next(number)
        return ProgramExercise(
            uuid4(),
            uuid4(),
            f"Exercise {n}",
            f"Notes {n}",
            (Alternative(exercise_id=uuid4(), name=f"Alternative {n}"),),
            programs.PROGRESSION.validate_python(
                {
                    "kind": "double",
                    "repsMin": 6,
                    "repsMax": 7 + n % 5,
                    "loadStep": {"value": 2.5, "unit": "kg"},
                },
                strict=False,
            ),
            Warmup.model_validate(
                {
                    "steps": [{"percent": 40, "reps": 1 + n % 19}],
                    "minLoad": {"value": 1 + n % 500, "unit": "kg"},
                },
                strict=False,
            ),
            uuid4(),
        )

    def group(size: int) -> ExerciseGroup:
        n = next(number) % 20
        settings = GroupSettings(
            1 + n, 30 + n, f"Group {n}", GroupFormat.TABATA, 600 + n, 20 + n, 10 + n
        )
        return ExerciseGroup(uuid4(), [exercise() for _ in range(size)], settings, uuid4())

    def session(day: int) -> Session:
        n = next(number)
        return Session(
            uuid4(),
            f"Day {n}",
            [group(2 if day == 0 else 1)],
            day,
            {1: date(2030, 1, 1 + day)},
            uuid4(),
            True,
        )

    n = next(number)
    program = Program(
        uuid4(),
        tenant,
        f"Block {n}",
        4,
        10 + n,
        [session(0), session(3)],
        {0: f"intro {n}", 2: "deload"},
        ProgramSource(uuid4(), 1 + n),
        Athlete.model_validate(
            {
                "athleteId": f"athlete-{n}",
                "maxes": [{"exerciseId": str(uuid4()), "value": 100 + n % 500, "unit": "kg"}],
                "trainingMaxPercent": 87.5,
                "rounding": {"kg": 1.25},
                "unit": "kg",
            },
            strict=False,
        ),
        date(2030, 1, 6),
        frozenset({uuid4(), uuid4()}),
        origins_known=False,
    )
    for exercise_id in program.exercise_ids():
        program.loaded.add(exercise_id)
        program.prescriptions[exercise_id] = {
            week: Prescription(
                uuid4(),
                exercise_id,
                week,
                1 + week,
                ({"orderIndex": 0, "reps": next(number) % 30},),
            )
            for week in (0, 3)
        }
    return program


def _changed(program: Program, number: Iterator[int]) -> Program:
    """Another value in every column an upsert writes (the optional ones cleared)."""
    for session in program.sessions:
        session.name, session.day_offset, session.rescheduled = f"Day {next(number)}", None, {}
        session.origin, session.customised = None, False
        for group in session.groups:
            group.settings, group.origin = GroupSettings(), None
            group.exercises = [
                ProgramExercise(exercise.id, uuid4(), f"Exercise {next(number)}")
                for exercise in reversed(group.exercises)
            ]
    program.sessions.reverse()
    for by_week in program.prescriptions.values():
        for week, prescription in by_week.items():
            by_week[week] = Prescription(
                prescription.id,
                prescription.program_exercise_id,
                week,
                prescription.version + 1,
                (),
            )
    program.name, program.weeks, program.version = f"Block {next(number)}", 5, program.version + 1
    program.week_labels, program.source, program.athlete = {}, None, None
    program.start_date, program.removed_origins = None, frozenset()
    program.origins_known = True
    return program


async def _write(
    connection: asyncpg.Connection, written: list[Program], stored: set[UUID]
) -> list[str]:
    recording = Recording(connection)
    writes = programs.PendingWrites(stored)
    for program in written:
        changes = Changes(
            sessions={session.id: None for session in program.sessions},
            announced={
                (exercise_id, week)
                for exercise_id, by_week in program.prescriptions.items()
                for week in by_week
            },
        )
        writes.add(program, changes)
    async with connection.transaction():
        await database.run(recording, writes.plan())  # type: ignore[arg-type]
    return recording.statements


async def _read(connection: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, Program]:
    async with connection.transaction():
        loaded = await programs.lock_and_load(connection, ids)
        await programs.load_prescriptions(connection, loaded, whole_programs=ids)
    return loaded


@pytest.mark.parametrize("count", [1, BULK_ROWS], ids=["row by row", "in bulk"])
async def test_every_column_round_trips(connection: asyncpg.Connection, count: int) -> None:
    number = itertools.count(1)
    written = [_build(f"tenant-{n}", number) for n in range(count)]
    ids = [program.id for program in written]

    statements = await _write(connection, written, set())
    if count == 1:  # two sessions, two groups, three exercises, six prescriptions
        expected = [t.upsert if t is programs.PRESCRIPTIONS else t.insert for t in TABLES]
    else:
        expected = [table.bulk for table in TABLES]
    assert statements == expected
    loaded = await _read(connection, ids)
    assert loaded == {program.id: program for program in written}

    changed = [_changed(program, number) for program in written]
    statements = await _write(connection, changed, programs.stored_ids(loaded))
    assert statements == [table.upsert for table in TABLES]
    loaded = await _read(connection, ids)
    for program in changed:
        program.origins_known = False  # an upsert keeps it as stored
    assert loaded == {program.id: program for program in changed}
