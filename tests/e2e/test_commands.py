"""Each command of the pipeline issue through the real broker and PostgreSQL: applied, with the
events it must cause, and a rejection of the series family travelling back with its code,
message and details (every rejection's code and path: tests/unit/domain/test_rejections.py)."""

from __future__ import annotations

import uuid

import asyncpg

from contracts.results import CommandResult
from tests.support.announced import announced
from tests.support.kafka import CommandClient
from tests.support.programs import as_stored, build_program, new_id
from tests.support.results import assert_rejected


async def test_program_create_and_update(client: CommandClient, pool: asyncpg.Pool) -> None:
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    await client.applied(
        "series.replace", program, programExerciseId=ids["squat"], week=3, series=[{"reps": 3}]
    )

    result = await client.run("program.update", program, name="Peaking block", weeks=2)

    assert result["status"] == "applied"
    CommandResult.model_validate(result, strict=False)
    prescriptions, _ = await client.events_of(result and client.results and result["commandId"], 1)
    assert [(e["week"], e["deleted"], e["series"]) for e in prescriptions] == [(3, True, [])]
    row = await pool.fetchrow(
        "SELECT name, weeks, version FROM programs WHERE id = $1", uuid.UUID(program)
    )
    assert dict(row) == {"name": "Peaking block", "weeks": 2, "version": result["programVersion"]}
    assert await pool.fetchval("SELECT count(*) FROM prescriptions WHERE week >= 2") == 0


async def test_program_create_twice_is_a_conflict(client: CommandClient) -> None:
    program = new_id()
    await client.applied("program.create", program, name="A")
    again = await client.run("program.create", program, name="A")
    assert again["status"] == "rejected"
    assert again["error"]["code"] == "conflict"


async def test_another_tenants_program_is_not_found(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    missing = await client.run("program.update", new_id(), name="X")
    other = client.command("program.update", ids["program"], name="Stolen")
    other["tenantId"] = "tenant-b"
    stolen = await client.request(other)

    assert stolen["status"] == "rejected"
    assert stolen["error"]["code"] == "not_found"
    # The same words as for a program that does not exist: no hint that it does.
    assert stolen["error"]["message"].replace(ids["program"], "P").replace("tenant-b", "T") == (
        missing["error"]["message"].replace(missing["programId"], "P").replace("tenant-a", "T")
    )
    assert (
        await pool.fetchval("SELECT name FROM programs WHERE id = $1", uuid.UUID(ids["program"]))
        == "Strength block"
    )


async def test_expected_version_mismatch_is_a_conflict(client: CommandClient) -> None:
    ids = await build_program(client)
    result = await client.run("program.update", ids["program"], name="X", expectedVersion=1)
    assert result["error"]["code"] == "conflict"
    ok = await client.run("program.update", ids["program"], name="X", expectedVersion=5)
    assert ok["status"] == "applied"
    assert ok["programVersion"] == 6


async def test_session_add_positions_and_shifts(client: CommandClient) -> None:
    ids = await build_program(client)
    first = new_id()
    result = await client.applied(
        "session.add", ids["program"], sessionId=first, name="Day 0", position=0
    )

    _, sessions = await announced(client, result["commandId"], 0, 2)
    assert {(e["sessionId"], e["orderIndex"]) for e in sessions} == {
        (first, 0),
        (ids["session"], 1),
    }

    taken = await client.run("session.add", ids["program"], sessionId=first, name="Again")
    assert taken["error"]["code"] == "conflict"
    too_far = await client.run(
        "session.add", ids["program"], sessionId=new_id(), name="X", position=5
    )
    assert_rejected(too_far["error"], "invariant_violated", "position")


async def test_session_remove_announces_deletions(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    result = await client.applied("session.remove", ids["program"], sessionId=ids["session"])

    prescriptions, sessions = await announced(client, result["commandId"], 3, 1)
    assert all(e["deleted"] and e["series"] == [] for e in prescriptions)
    assert sessions[0]["deleted"] is True
    assert await pool.fetchval("SELECT count(*) FROM program_exercises") == 0
    missing = await client.run("session.remove", ids["program"], sessionId=ids["session"])
    assert missing["error"]["code"] == "not_found"


async def test_exercise_add_grows_a_superset_into_a_circuit(client: CommandClient) -> None:
    ids = await build_program(client)
    curl = new_id()
    result = await client.applied(
        "exercise.add",
        ids["program"],
        sessionId=ids["session"],
        programExerciseId=curl,
        exerciseId=new_id(),
        name="Curl",
        groupId=ids["group"],
        position=1,
    )
    prescriptions, _ = await announced(client, result["commandId"], 3, 1)
    placement = {e["programExerciseId"]: e["group"] for e in prescriptions}
    assert {k: (g["kind"], g["orderWithinGroup"], g["size"]) for k, g in placement.items()} == {
        ids["bench"]: ("circuit", 0, 3),
        curl: ("circuit", 1, 3),
        ids["row"]: ("circuit", 2, 3),
    }


async def test_exercise_remove_shrinks_the_group_and_shifts(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    result = await client.applied("exercise.remove", ids["program"], programExerciseId=ids["bench"])
    prescriptions, _ = await announced(client, result["commandId"], 2, 1)
    by_exercise = {e["programExerciseId"]: e for e in prescriptions}
    assert by_exercise[ids["bench"]]["deleted"] is True
    assert by_exercise[ids["row"]]["group"] == {
        "groupId": ids["group"],
        "kind": "standalone",
        "orderIndex": 1,
        "orderWithinGroup": 0,
        "size": 1,
    }
    await client.applied("exercise.remove", ids["program"], programExerciseId=ids["squat"])
    groups = await pool.fetch("SELECT id, order_index FROM exercise_groups")
    assert [(str(r["id"]), r["order_index"]) for r in groups] == [(ids["group"], 0)]
    missing = await client.run("exercise.remove", ids["program"], programExerciseId=ids["squat"])
    assert missing["error"]["code"] == "not_found"


async def test_series_edits(client: CommandClient, pool: asyncpg.Pool) -> None:
    ids = await build_program(client)
    program, squat = ids["program"], ids["squat"]
    cluster = {
        "setType": "cluster",
        "reps": 2,
        "load": {"value": 85, "unit": "percent1rm"},
        "restSeconds": 20,
    }
    await client.applied(
        "series.replace", program, programExerciseId=squat, week=1, series=[cluster, cluster]
    )
    await client.applied(
        "series.add",
        program,
        programExerciseId=squat,
        week=1,
        position=0,
        set={"setType": "warmup", "reps": 5, "load": {"value": 60, "unit": "kg"}},
    )
    await client.applied(
        "series.update",
        program,
        programExerciseId=squat,
        week=1,
        index=2,
        set={"restSeconds": 180, "rpe": 8.5},
    )
    await client.applied(
        "series.move", program, programExerciseId=squat, week=1, **{"from": 0, "to": 2}
    )
    last = await client.applied("series.remove", program, programExerciseId=squat, week=1, index=0)

    prescriptions, _ = await client.events_of(last["commandId"], 1)
    expected = [
        {
            "orderIndex": 0,
            "setType": "cluster",
            "reps": 2,
            "load": {"value": 85.0, "unit": "percent1rm"},
            "rpe": 8.5,
            "restSeconds": 180,
        },
        {"orderIndex": 1, "setType": "warmup", "reps": 5, "load": {"value": 60.0, "unit": "kg"}},
    ]
    assert as_stored(prescriptions[0]["series"]) == expected
    assert prescriptions[0]["version"] == 5
    stored = await pool.fetchval(
        "SELECT series FROM prescriptions WHERE program_exercise_id = $1 AND week = 1",
        uuid.UUID(squat),
    )
    assert stored == expected


async def test_a_series_rejection_comes_back_with_its_code_message_and_details(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    before = await pool.fetch("SELECT id, version, series FROM prescriptions ORDER BY id")
    command = client.command(
        "series.remove", ids["program"], programExerciseId=ids["squat"], index=3
    )
    result = await client.request(command)

    assert result["status"] == "rejected"
    CommandResult.model_validate(result, strict=False)
    assert result["error"]["code"] == "invariant_violated"
    assert "index 3" in result["error"]["message"]
    [detail] = result["error"]["details"]
    assert detail["path"] == "index" and detail["reason"]
    assert result["programVersion"] is None
    await client.wait_consumed(pool)
    assert client.prescription_events(command["commandId"]) == []
    assert await pool.fetch("SELECT id, version, series FROM prescriptions ORDER BY id") == before
    assert await pool.fetchval("SELECT version FROM programs") == 5


async def test_unknown_type_is_unsupported(client: CommandClient) -> None:
    result = await client.run("program.archive", new_id())
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "unsupported"
    assert result["type"] == "program.archive"
