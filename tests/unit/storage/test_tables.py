"""The table descriptions of `service.storage.programs`: the statements rendered from them, and
each row builder's values in its table's column order (run with `-s` to see every statement)."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from contracts.athletes import Athlete
from contracts.exercises import Alternative, Warmup
from contracts.groups import GroupFormat
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
)
from service.storage import programs
from service.storage.programs import PROGRAMS, TABLES, Table

PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "uuid": (UUID,),
    "text": (str,),
    "smallint": (int,),
    "integer": (int,),
    "bigint": (int,),
    "boolean": (bool,),
    "date": (date,),
    "jsonb": (list, dict),
}


def test_the_program_statements_read_as_written() -> None:
    assert (
        PROGRAMS.upsert
        == """
INSERT INTO programs
    (id, tenant_id, name, weeks, version, week_labels, source_program_id, source_program_version,
     athlete, start_date, removed_origins, origins_known)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, weeks = EXCLUDED.weeks, version = EXCLUDED.version,
    week_labels = EXCLUDED.week_labels, source_program_id = EXCLUDED.source_program_id,
    source_program_version = EXCLUDED.source_program_version, athlete = EXCLUDED.athlete,
    start_date = EXCLUDED.start_date, removed_origins = EXCLUDED.removed_origins,
    updated_at = now()
"""
    )
    assert (
        PROGRAMS.bulk
        == """
INSERT INTO programs
    (id, tenant_id, name, weeks, version, week_labels, source_program_id, source_program_version,
     athlete, start_date, removed_origins, origins_known)
SELECT id, tenant_id, name, weeks, version, week_labels::jsonb, source_program_id,
       source_program_version, athlete::jsonb, start_date, removed_origins::jsonb, origins_known
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::text[],
            $7::uuid[], $8::bigint[], $9::text[], $10::date[], $11::text[], $12::boolean[])
     AS row (id, tenant_id, name, weeks, version, week_labels, source_program_id,
             source_program_version, athlete, start_date, removed_origins, origins_known)
"""
    )
    assert PROGRAMS.json_columns == (5, 8, 10)
    assert (
        programs._LOCK_PROGRAMS
        == """
SELECT id, tenant_id, name, weeks, version, week_labels, source_program_id,
       source_program_version, athlete, start_date, removed_origins, origins_known
FROM programs WHERE id = ANY($1::uuid[])
ORDER BY id
FOR UPDATE
"""
    )


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_every_statement_follows_the_columns(table: Table) -> None:
    print(table.upsert, table.insert, table.bulk, sep="")
    listed = f"({', '.join(table.names)})"
    parameters = ", ".join(f"${at}" for at in range(1, len(table.columns) + 1))
    for statement in (table.insert, table.upsert, table.bulk):
        assert _flat(statement).startswith(f"INSERT INTO {table.name} {listed} ")
        assert all(len(line) <= 97 for line in statement.splitlines())
    assert f"VALUES ({parameters})" in _flat(table.insert)
    assert _flat(table.upsert) == (
        f"{_flat(table.insert)} ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(
            [f"{n} = EXCLUDED.{n}" for n in table.names if n not in ("id", *table.kept)]
            + ([table.touch] if table.touch else [])
        )
    )
    selected = [f"{c.name}::jsonb" if c.json else c.name for c in table.columns]
    arrays = [f"${at}::{'text' if c.json else c.type}[]" for at, c in enumerate(table.columns, 1)]
    assert _flat(table.bulk).endswith(
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS row {listed}"
    )
    assert table.json_columns == tuple(
        at for at, c in enumerate(table.columns) if c.type == "jsonb"
    )


def _flat(statement: str) -> str:
    return " ".join(statement.split())


def test_each_row_builder_gives_its_columns_in_order() -> None:
    """Every field set, each column gets a value of its PostgreSQL type: a value in the wrong
    place, or a JSON value where the table has none, fails here."""
    program_id, session_id, group_id, exercise_id = uuid4(), uuid4(), uuid4(), uuid4()
    exercise = ProgramExercise(
        exercise_id,
        uuid4(),
        "Squat",
        "Brace",
        (Alternative(exercise_id=uuid4(), name="Front squat"),),
        programs.PROGRESSION.validate_python(
            {"kind": "linear", "loadStep": {"value": 2.5, "unit": "kg"}}, strict=False
        ),
        Warmup.model_validate({"steps": [{"percent": 40, "reps": 5}]}),
        uuid4(),
    )
    group = ExerciseGroup(
        group_id, [exercise], GroupSettings(3, 90, "Notes", GroupFormat.EMOM, 600, 60, 0), uuid4()
    )
    session = Session(session_id, "Day", [group], 2, {1: date(2030, 1, 2)}, uuid4(), True)
    program = Program(
        program_id,
        "tenant",
        "Block",
        4,
        7,
        [session],
        {0: "intro"},
        ProgramSource(uuid4(), 3),
        Athlete.model_validate({"athleteId": "a"}),
        date(2030, 1, 1),
        frozenset({uuid4()}),
        False,
    )
    prescription = Prescription(uuid4(), exercise_id, 1, 2, ({"orderIndex": 0, "reps": 5},))
    rows = {
        PROGRAMS: programs._program_row(program),
        programs.SESSIONS: programs._session_row(program_id, 0, session),
        programs.GROUPS: programs._group_row(program_id, session_id, 0, group),
        programs.EXERCISES: programs._exercise_row(program_id, session_id, group_id, 0, exercise),
        programs.PRESCRIPTIONS: programs._prescription_row(
            program_id, exercise_id, 1, prescription
        ),
    }
    assert set(rows) == set(TABLES)
    for table, row in rows.items():
        assert len(row) == len(table.columns), table.name
        for column, value in zip(table.columns, row, strict=True):
            expected = PYTHON_TYPES[column.type]
            assert isinstance(value, expected), (table.name, column.name, value)
            if column.type in ("smallint", "integer", "bigint"):
                assert not isinstance(value, bool), (table.name, column.name, value)
