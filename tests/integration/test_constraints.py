"""The database refuses what the domain never writes: a second line of defence for invariants."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def seed(connection: asyncpg.Connection) -> dict[str, Any]:
    """A program with one session, two groups and three exercises (0: two, 1: one)."""
    ids = {name: uuid.uuid4() for name in ("program", "session", "g0", "g1", "e0", "e1", "e2")}
    await connection.execute(
        "INSERT INTO programs (id, tenant_id, name, weeks, version) VALUES ($1, 't', 'P', 4, 1)",
        ids["program"],
    )
    await connection.execute(
        "INSERT INTO sessions (id, program_id, name, order_index) VALUES ($1, $2, 'S', 0)",
        ids["session"],
        ids["program"],
    )
    for index, group in enumerate(("g0", "g1")):
        await connection.execute(
            "INSERT INTO exercise_groups (id, program_id, session_id, order_index)"
            " VALUES ($1, $2, $3, $4)",
            ids[group],
            ids["program"],
            ids["session"],
            index,
        )
    for exercise, group, order in (("e0", "g0", 0), ("e1", "g0", 1), ("e2", "g1", 0)):
        await insert_exercise(connection, ids, ids[exercise], ids[group], order)
    return ids


async def insert_exercise(
    connection: asyncpg.Connection,
    ids: dict[str, Any],
    exercise_id: uuid.UUID,
    group_id: uuid.UUID,
    order: int,
    session_id: uuid.UUID | None = None,
) -> None:
    await connection.execute(
        "INSERT INTO program_exercises"
        " (id, program_id, session_id, group_id, order_within_group, exercise_id, name)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'Squat')",
        exercise_id,
        ids["program"],
        session_id or ids["session"],
        group_id,
        order,
        uuid.uuid4(),
    )


async def insert_prescription(
    connection: asyncpg.Connection, ids: dict[str, Any], week: int, series: str
) -> None:
    await connection.execute(
        "INSERT INTO prescriptions (id, program_id, program_exercise_id, week, version, series)"
        " VALUES ($1, $2, $3, $4, 1, $5::text::jsonb)",
        uuid.uuid4(),
        ids["program"],
        ids["e0"],
        week,
        series,
    )


@pytest.mark.parametrize(
    ("week", "series", "error"),
    [
        (0, '{"reps": 5}', asyncpg.CheckViolationError),  # not an array
        (0, json.dumps([{"reps": 5}] * 51), asyncpg.CheckViolationError),
        (-1, "[]", asyncpg.CheckViolationError),
        (52, "[]", asyncpg.CheckViolationError),
    ],
)
async def test_prescription_checks(
    connection: asyncpg.Connection, week: int, series: str, error: type[Exception]
) -> None:
    ids = await seed(connection)
    await insert_prescription(
        connection, ids, 0 if week != 0 else 1, json.dumps([{"reps": 5}] * 50)
    )
    with pytest.raises(error):
        await insert_prescription(connection, ids, week, series)


async def test_one_prescription_per_exercise_and_week(connection: asyncpg.Connection) -> None:
    ids = await seed(connection)
    await insert_prescription(connection, ids, 0, "[]")
    with pytest.raises(asyncpg.UniqueViolationError):
        await insert_prescription(connection, ids, 0, "[]")


async def test_negative_orders_are_refused(connection: asyncpg.Connection) -> None:
    ids = await seed(connection)
    with pytest.raises(asyncpg.CheckViolationError):
        await insert_exercise(connection, ids, uuid.uuid4(), ids["g1"], -1)
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "UPDATE exercise_groups SET order_index = -1 WHERE id = $1", ids["g0"]
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "UPDATE sessions SET order_index = -1 WHERE id = $1", ids["session"]
        )


async def test_an_exercise_cannot_sit_in_another_sessions_group(
    connection: asyncpg.Connection,
) -> None:
    ids = await seed(connection)
    other_session = uuid.uuid4()
    await connection.execute(
        "INSERT INTO sessions (id, program_id, name, order_index) VALUES ($1, $2, 'S2', 1)",
        other_session,
        ids["program"],
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await insert_exercise(connection, ids, uuid.uuid4(), ids["g1"], 1, other_session)


async def test_duplicate_orders_are_refused_at_commit(connection: asyncpg.Connection) -> None:
    ids = await seed(connection)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with connection.transaction():
            await connection.execute(
                "UPDATE program_exercises SET order_within_group = 0 WHERE id = $1", ids["e1"]
            )
    with pytest.raises(asyncpg.UniqueViolationError):
        async with connection.transaction():
            await connection.execute(
                "UPDATE exercise_groups SET order_index = 0 WHERE id = $1", ids["g1"]
            )


async def test_swaps_pass_inside_one_transaction(connection: asyncpg.Connection) -> None:
    """Reordering moves rows through duplicate positions mid-transaction: the uniques are
    deferred to the commit."""
    ids = await seed(connection)
    async with connection.transaction():
        await connection.execute(
            "UPDATE program_exercises SET order_within_group = 1 WHERE id = $1", ids["e0"]
        )
        await connection.execute(
            "UPDATE program_exercises SET order_within_group = 0 WHERE id = $1", ids["e1"]
        )
        await connection.execute(
            "UPDATE exercise_groups SET order_index = 1 WHERE id = $1", ids["g0"]
        )
        await connection.execute(
            "UPDATE exercise_groups SET order_index = 0 WHERE id = $1", ids["g1"]
        )
    orders = await connection.fetch(
        "SELECT id, order_within_group FROM program_exercises WHERE group_id = $1", ids["g0"]
    )
    assert {r["id"]: r["order_within_group"] for r in orders} == {ids["e0"]: 1, ids["e1"]: 0}


async def test_deletes_cascade(connection: asyncpg.Connection) -> None:
    ids = await seed(connection)
    await insert_prescription(connection, ids, 0, "[]")
    await connection.execute("DELETE FROM exercise_groups WHERE id = $1", ids["g0"])
    assert await connection.fetchval("SELECT count(*) FROM program_exercises") == 1
    assert await connection.fetchval("SELECT count(*) FROM prescriptions") == 0
    await connection.execute("DELETE FROM programs WHERE id = $1", ids["program"])
    for table in ("sessions", "exercise_groups", "program_exercises"):
        assert await connection.fetchval(f"SELECT count(*) FROM {table}") == 0
