"""Storage of the program aggregate: what the domain builds is what PostgreSQL holds, after every
kind of structure change, with the deferred uniques satisfied at each commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pydantic import TypeAdapter

from contracts.commands import Command
from service.domain.commands import Context, apply
from service.domain.errors import Rejection
from service.domain.model import Program
from service.storage import database, programs

pytestmark = pytest.mark.integration

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
PROGRAM = uuid.uuid4()


def command(kind: str, **fields: Any) -> Any:
    document = {
        "commandId": str(uuid.uuid4()),
        "type": kind,
        "tenantId": "t",
        "programId": str(PROGRAM),
        **{k: str(v) if isinstance(v, UUID) else v for k, v in fields.items()},
    }
    return COMMANDS.validate_json(json.dumps(document, default=str))


async def load(connection: asyncpg.Connection) -> Program | None:
    loaded = await programs.lock_and_load(connection, [PROGRAM])
    await programs.load_prescriptions(connection, loaded, whole_programs=list(loaded))
    return loaded.get(PROGRAM)


async def run(connection: asyncpg.Connection, document: Any) -> Program:
    """One command as the service runs it: lock, load, apply, write, commit."""
    async with connection.transaction():
        program = await load(connection)
        taken = await programs.taken_ids(connection, _ids_in(document))
        applied = apply(program, document, Context(datetime.now(UTC), taken.__contains__))
        writes = programs.PendingWrites(
            programs.stored_ids({program.id: program} if program else {})
        )
        writes.add(applied.program, applied.changes)
        await database.run(connection, writes.plan())
    return applied.program


def _ids_in(document: Any) -> list[UUID]:
    return [value for value in vars(document).values() if isinstance(value, UUID)]


def shape(program: Program) -> Any:
    return (
        program.name,
        program.weeks,
        program.version,
        program.week_labels,
        program.source,
        program.athlete,
        program.start_date,
        [
            (
                session.id,
                session.name,
                session.day_offset,
                session.rescheduled,
                [
                    (
                        group.id,
                        group.settings,
                        [
                            (
                                exercise,  # with notes, alternatives, progression, warmup
                                {
                                    week: (p.id, p.version, list(p.series))
                                    for week, p in sorted(
                                        program.prescriptions_of(exercise.id).items()
                                    )
                                },
                            )
                            for exercise in group.exercises
                        ],
                    )
                    for group in session.groups
                ],
            )
            for session in program.sessions
        ],
    )


async def assert_stored(connection: asyncpg.Connection, expected: Program) -> None:
    stored = await load(connection)
    assert stored is not None
    assert shape(stored) == shape(expected)
    gaps = await connection.fetch(
        """
        SELECT 'sessions' AS kind, program_id AS parent,
               array_agg(order_index ORDER BY order_index) AS orders
        FROM sessions GROUP BY program_id
        UNION ALL
        SELECT 'groups', session_id, array_agg(order_index ORDER BY order_index)
        FROM exercise_groups GROUP BY session_id
        UNION ALL
        SELECT 'exercises', group_id, array_agg(order_within_group ORDER BY order_within_group)
        FROM program_exercises GROUP BY group_id
        """
    )
    for row in gaps:
        assert row["orders"] == list(range(len(row["orders"]))), dict(row)
    empty = await connection.fetchval(
        "SELECT count(*) FROM exercise_groups g"
        " WHERE NOT EXISTS (SELECT 1 FROM program_exercises e WHERE e.group_id = g.id)"
    )
    assert empty == 0


def sets(count: int, reps: int = 5) -> list[dict[str, Any]]:
    return [{"reps": reps, "load": {"value": 82.5, "unit": "kg"}, "rpe": 7.5}] * count


async def test_every_structure_change_round_trips(connection: asyncpg.Connection) -> None:
    day1, day2, copy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    steps: list[Any] = [
        command("program.create", name="Block", weeks=4),
        command("session.add", sessionId=day1, name="Day 1"),
        command("session.add", sessionId=day2, name="Day 2", position=0),
        *[
            command(
                "exercise.add",
                sessionId=day1,
                programExerciseId=x,
                exerciseId=uuid.uuid4(),
                name=f"Exercise {n}",
                series=sets(n + 1),
            )
            for n, x in enumerate((a, b, c, d))
        ],
        command(
            "exercise.add", sessionId=day2, programExerciseId=e, exerciseId=uuid.uuid4(), name="E"
        ),
        command("series.replace", programExerciseId=a, week=2, series=sets(3, 8)),
        command("exercises.group", sessionId=day1, programExerciseIds=[a, b]),  # superset
    ]
    program: Program | None = None
    for step in steps:
        program = await run(connection, step)
        await assert_stored(connection, program)
    assert program is not None
    superset = program.sessions[1].groups[0].id

    def group_of(program: Program, exercise: UUID) -> UUID:
        return program.locate(exercise).group.id

    moves: list[Callable[[Program], Any]] = [
        # into the superset (a circuit now), then within it, then out into a new group
        lambda p: command("exercise.move", programExerciseId=c, toGroupId=superset, position=0),
        lambda p: command("exercise.move", programExerciseId=a, toGroupId=superset, position=2),
        lambda p: command("exercise.move", programExerciseId=b, toNewGroupAt=0),
        # across sessions, into a new group and into an existing one (emptying e's group)
        lambda p: command("exercise.move", programExerciseId=d, toNewGroupAt=0, toSessionId=day2),
        lambda p: command("exercise.move", programExerciseId=e, toGroupId=group_of(p, d)),
        lambda p: command(
            "groups.reorder",
            sessionId=day1,
            groupIds=[g.id for g in reversed(p.sessions[1].groups)],
        ),
        lambda p: command("session.copy", sessionId=day1, newSessionId=copy, position=0),
        lambda p: command("group.ungroup", groupId=superset),
        lambda p: command("series.move", programExerciseId=a, week=2, **{"from": 2, "to": 0}),
        lambda p: command("exercise.remove", programExerciseId=c),
        lambda p: command(
            "group.update",
            groupId=group_of(p, a),
            format="tabata",
            intervalSeconds=20,
            intervalRestSeconds=10,
            rounds=8,
            notes="8 rounds",
        ),
        lambda p: command(
            "series.replace",
            programExerciseId=a,
            week=1,
            series=[{"reps": 8, "perSide": True, "load": {"value": 20, "unit": "kg"}}],
        ),
        lambda p: command("program.update", weekLabels=[{"week": 3, "label": "deload"}]),
        lambda p: command("week.insert", at=1, count=2),
        lambda p: command(
            "series.progress", programExerciseId=a, fromWeek=3, toWeeks=[4, 5], step={"load": 2.5}
        ),
        lambda p: command("week.remove", week=0),
        lambda p: command("session.remove", sessionId=day2),
    ]
    for move in moves:
        step = move(program)
        try:
            program = await run(connection, step)
        except Rejection as rejection:  # every step must stay applicable
            pytest.fail(f"{step.type} rejected: {rejection}")
        await assert_stored(connection, program)
    assert program.version == len(steps) + len(moves)


async def test_import_round_trips_series_exactly(connection: asyncpg.Connection) -> None:
    from tests.unit.contracts.test_artifacts import EXAMPLES

    for name in (
        "program.import (v1)",
        "program.import (legacy)",
        "program.import (v1, exported from the events)",
    ):
        document = dict(
            EXAMPLES["commands"][name], programId=str(PROGRAM), commandId=str(uuid.uuid4())
        )
        await connection.execute("DELETE FROM programs")
        program = await run(connection, COMMANDS.validate_json(json.dumps(document)))
        await assert_stored(connection, program)


async def test_taken_ids_sees_every_kind_of_entity(connection: asyncpg.Connection) -> None:
    session, exercise, free = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await run(connection, command("program.create", name="Block"))
    await run(connection, command("session.add", sessionId=session, name="Day"))
    program = await run(
        connection,
        command(
            "exercise.add", sessionId=session, programExerciseId=exercise, exerciseId=free, name="X"
        ),
    )
    group = program.sessions[0].groups[0].id
    assert await programs.taken_ids(connection, [session, exercise, group, free, PROGRAM]) == {
        session,
        exercise,
        group,
        PROGRAM,
    }
    await run(connection, command("program.delete"))
    assert await programs.taken_ids(connection, [session, exercise, group, PROGRAM]) == {PROGRAM}, (
        "a deleted program's id stays taken; the ids of what it held are free again"
    )


async def test_the_athlete_and_exercise_fields_round_trip(connection: asyncpg.Connection) -> None:
    """The athlete (maxes, training max, rounding, unit), an exercise's notes,
    alternatives and progression, a swapped exerciseId and an `of` load are stored as applied."""
    day, squat, bench = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    squat_id, bench_id, front_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    relative = [{"reps": 5, "load": {"value": 80, "unit": "percent1rm", "of": str(bench_id)}}]
    steps: list[Any] = [
        command("program.create", name="Block", weeks=2),
        command("session.add", sessionId=day, name="Day 1"),
        command(
            "exercise.add",
            sessionId=day,
            programExerciseId=squat,
            exerciseId=squat_id,
            name="Squat",
            series=relative,
        ),
        command(
            "exercise.add",
            sessionId=day,
            programExerciseId=bench,
            exerciseId=bench_id,
            name="Bench",
        ),
        command(
            "program.assign",
            athlete={
                "athleteId": "athlete-1",
                "maxes": [
                    {"exerciseId": str(squat_id), "value": 140, "unit": "kg"},
                    {"exerciseId": str(bench_id), "value": 225.5, "unit": "lb"},
                ],
                "trainingMaxPercent": 87.5,
                "rounding": {"kg": 1.25},
                "unit": "kg",
            },
        ),
        command(
            "exercise.update",
            programExerciseId=squat,
            exerciseId=front_id,
            name="Front squat",
            notes="Elbows up",
            alternatives=[{"exerciseId": str(squat_id), "name": "Back squat"}],
            progression={
                "kind": "double",
                "repsMin": 6,
                "repsMax": 10,
                "loadStep": {"value": 2.5, "unit": "kg"},
            },
        ),
        command("maxes.set", maxes=[{"exerciseId": str(squat_id), "value": None}]),
        command("exercise.update", programExerciseId=squat, notes=None, progression=None),
        command("program.unassign"),
    ]
    for step in steps:
        program = await run(connection, step)
        await assert_stored(connection, program)
    stored = await connection.fetchrow("SELECT athlete FROM programs WHERE id = $1", PROGRAM)
    assert stored["athlete"] is None
    [row] = await connection.fetch(
        "SELECT exercise_id, name, notes, alternatives, progression FROM program_exercises"
        " WHERE id = $1",
        squat,
    )
    assert (row["exercise_id"], row["name"], row["notes"], row["progression"]) == (
        front_id,
        "Front squat",
        None,
        None,
    )
    assert row["alternatives"] == [{"exerciseId": str(squat_id), "name": "Back squat"}]


async def test_the_calendar_and_warmups_round_trip(connection: asyncpg.Connection) -> None:
    """A start date, a session's day and reschedulings, an exercise's warm-up, stored as
    applied, changed and cleared, in the single-row and the bulk (`unnest`) statements."""
    days = [uuid.uuid4() for _ in range(9)]  # nine sessions: the bulk insert path of a copy
    squat, copy_id = uuid.uuid4(), uuid.uuid4()
    warmup = {
        "steps": [{"percent": 40, "reps": 5}, {"percent": 62.5, "reps": 3}],
        "minLoad": {"value": 45, "unit": "lb"},
    }
    steps: list[Any] = [
        command("program.create", name="Block", weeks=3),
        *[
            command("session.add", sessionId=day, name=f"Day {n}", dayOffset=n % 7)
            for n, day in enumerate(days)
        ],
        command(
            "exercise.add",
            sessionId=days[0],
            programExerciseId=squat,
            exerciseId=uuid.uuid4(),
            name="Squat",
            series=[{"reps": 3, "rpe": 8}],
            warmup=warmup,
        ),
        command("program.schedule", startDate="2028-02-28"),
        command("session.reschedule", sessionId=days[0], week=2, date="2028-02-29"),
        command("session.reschedule", sessionId=days[0], week=1, date="2099-12-31"),
        command("session.update", sessionId=days[1], name="Heavy", dayOffset=None),
        command("exercise.update", programExerciseId=squat, warmup={**warmup, "minLoad": None}),
        command("week.insert", at=0),
    ]
    for step in steps:
        program = await run(connection, step)
        await assert_stored(connection, program)
    assert program.sessions[0].rescheduled == {2: date(2099, 12, 31), 3: date(2028, 2, 29)}
    row = await connection.fetchrow(
        "SELECT s.day_offset, s.rescheduled, p.start_date FROM sessions s"
        " JOIN programs p ON p.id = s.program_id WHERE s.id = $1",
        days[0],
    )
    assert (row["day_offset"], row["start_date"]) == (0, date(2028, 2, 28))
    assert row["rescheduled"] == [
        {"week": 2, "date": "2099-12-31"},
        {"week": 3, "date": "2028-02-29"},
    ]
    stored_warmup = await connection.fetchval(
        "SELECT warmup FROM program_exercises WHERE id = $1", squat
    )
    assert stored_warmup == {
        "steps": [{"percent": 40.0, "reps": 5}, {"percent": 62.5, "reps": 3}],
        "minLoad": None,
    }

    copied = await run(connection, command("program.copy", newProgramId=copy_id))
    stored_copy = await programs.lock_and_load(connection, [copy_id])
    await programs.load_prescriptions(connection, stored_copy, whole_programs=[copy_id])
    assert shape(stored_copy[copy_id]) == shape(copied)
    assert stored_copy[copy_id].start_date == date(2028, 2, 28)

    for step in [
        command("program.schedule", startDate=None),
        command("session.reschedule", sessionId=days[0], week=2, date=None),
        command("exercise.update", programExerciseId=squat, warmup=None),
        command("program.update", weeks=3),
    ]:
        program = await run(connection, step)
        await assert_stored(connection, program)
    assert program.start_date is None
    assert program.sessions[0].rescheduled == {}
