"""Whole-program operations through the real broker and PostgreSQL: batch, program.import (v1 and
the legacy shape, compared field by field), program.republish, and a long random run of every
command, each answered as the domain core predicts, after which the latest event per key
reconstructs the database."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from tests.support.announced import announced
from tests.support.generator import CommandGenerator
from tests.support.kafka import CommandClient
from tests.support.programs import (
    LEGACY_NAMES,
    as_stored,
    assert_events_reconstruct_database,
    assert_valid_events,
    build_program,
    database_sessions,
    derived,
    legacy_ids,
    legacy_program,
    new_id,
)


async def snapshot_of_database(pool: asyncpg.Pool) -> tuple[Any, ...]:
    return (
        await pool.fetch("SELECT id, name, weeks, version FROM programs ORDER BY id"),
        await database_sessions(pool),
        await pool.fetch("SELECT id, version, series FROM prescriptions ORDER BY id"),
    )


# --- batch


async def test_batch_applies_in_order_with_one_version_and_derived_ids(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    program = ids["program"]
    day2, press, dip = new_id(), new_id(), new_id()
    command = client.command(
        "batch",
        program,
        expectedVersion=5,
        operations=[
            {"type": "session.add", "sessionId": day2, "name": "Day 2"},
            {
                "type": "exercise.add",
                "sessionId": day2,
                "programExerciseId": press,
                "exerciseId": new_id(),
                "name": "Overhead press",
                "series": [{"reps": 8}],
            },
            {
                "type": "exercise.add",
                "sessionId": day2,
                "programExerciseId": dip,
                "exerciseId": new_id(),
                "name": "Dip",
            },
            {"type": "exercises.group", "sessionId": day2, "programExerciseIds": [dip, press]},
            {"type": "group.update", "groupId": "GROUP3", "rounds": 3},
            {"type": "series.add", "programExerciseId": press, "set": {"reps": 6}},
            {"type": "series.update", "programExerciseId": press, "index": 0, "set": {"rir": 2}},
            {"type": "series.replace", "programExerciseId": ids["squat"], "week": 1, "series": []},
        ],
    )
    group = derived(command["commandId"], "3:group")
    command["operations"][4]["groupId"] = group
    result = await client.request(command)

    assert result["status"] == "applied", result
    assert result["programVersion"] == 6
    # One event per prescription and per session the whole batch changed, not one per operation.
    events, sessions = await client.events_of(command["commandId"], 3, 1)
    await client.wait_consumed(pool)
    events = client.prescription_events(command["commandId"])
    assert_valid_events(events, sessions)
    assert sorted((e["programExerciseId"], e["week"]) for e in events) == sorted(
        [(press, 0), (dip, 0), (ids["squat"], 1)]
    )
    assert len(client.session_events(command["commandId"])) == 1
    by_exercise = {e["programExerciseId"]: e for e in events}
    assert by_exercise[press]["group"] == {
        "groupId": group,
        "kind": "superset",
        "orderIndex": 0,
        "orderWithinGroup": 1,
        "size": 2,
    }
    assert as_stored(by_exercise[press]["series"]) == [
        {"orderIndex": 0, "setType": "working", "reps": 8, "rir": 2},
        {"orderIndex": 1, "setType": "working", "reps": 6},
    ]
    assert by_exercise[press]["prescriptionId"] == derived(
        command["commandId"], f"1:prescription:{press}:0"
    )
    assert all(e["programVersion"] == 6 for e in events + sessions)
    assert sessions[0]["groups"][0]["rounds"] == 3
    await assert_events_reconstruct_database(client, pool)


async def test_batch_is_all_or_nothing(client: CommandClient, pool: asyncpg.Pool) -> None:
    ids = await build_program(client)
    program = ids["program"]
    before = await snapshot_of_database(pool)
    failing = await client.run(
        "batch",
        program,
        operations=[
            {"type": "program.update", "name": "Renamed"},
            {"type": "exercise.remove", "programExerciseId": ids["bench"]},
            {"type": "series.remove", "programExerciseId": ids["squat"], "index": 1},
        ],
    )
    assert failing["status"] == "rejected"
    assert failing["error"]["code"] == "invariant_violated"
    assert failing["error"]["message"].startswith("operations[2]")
    [detail] = failing["error"]["details"]
    assert detail["path"] == "operations[2].index" and detail["reason"]
    assert failing["programVersion"] is None
    assert await snapshot_of_database(pool) == before

    await client.wait_consumed(pool)
    assert await snapshot_of_database(pool) == before
    assert client.prescription_events(failing["commandId"]) == []


# --- program.import


def working(reps: int, **fields: Any) -> dict[str, Any]:
    return {"setType": "working", "reps": reps, **fields}


def numbered(*sets: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"orderIndex": i, **s} for i, s in enumerate(sets)]


async def test_legacy_import_converts_groups_and_split_rows_field_by_field(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = legacy_ids()
    command = client.command("program.import", ids["program"], program=legacy_program(ids))
    result = await client.request(command)
    assert result["status"] == "applied", result
    assert result["programVersion"] == 1
    command_id = command["commandId"]

    def group(first: str) -> str:
        return derived(command_id, f"group:{ids[first]}")

    kg = "kg"
    squat_w0 = numbered(
        working(5, load={"value": 100, "unit": kg}, rpe=7, restSeconds=180),
        working(5, load={"value": 100, "unit": kg}, rpe=7, restSeconds=180),
        working(3, load={"value": 110.5, "unit": kg}, rpe=9, restSeconds=240),
    )
    # (exercise, week) -> (session, group id, kind, group index, index in group, size, series)
    expected: dict[tuple[str, int], tuple[str, str, str, int, int, int, list[Any]]] = {
        ("squat", 0): ("day1", group("squat"), "standalone", 0, 0, 1, squat_w0),
        ("squat", 1): (
            "day1",
            group("squat"),
            "standalone",
            0,
            0,
            1,
            numbered(working(3, load={"value": 110.5, "unit": kg}, rpe=9, restSeconds=240)),
        ),
        ("row", 0): ("day1", group("row"), "superset", 1, 0, 2, [working(10, restSeconds=90)] * 3),
        ("bench", 0): ("day1", group("row"), "superset", 1, 1, 2, [working(8)] * 3),
        ("deadlift", 0): ("day1", group("deadlift"), "standalone", 2, 0, 1, []),
        # supersetOrder ties (all 0) are broken by orderIndex: pushdown 4, raise 5, curl 6.
        ("pushdown", 0): ("day1", group("pushdown"), "circuit", 3, 0, 3, [working(15)] * 2),
        ("raise", 0): ("day1", group("pushdown"), "circuit", 3, 1, 3, [working(20, rpe=9.5)]),
        ("curl", 0): ("day1", group("pushdown"), "circuit", 3, 2, 3, [working(12)] * 2),
        # The same supersetGroup number in another session is another group.
        ("lunge", 0): ("day2", group("lunge"), "superset", 0, 0, 2, []),
        ("lunge", 1): ("day2", group("lunge"), "superset", 0, 0, 2, numbered(working(10))),
        ("plank", 0): ("day2", group("lunge"), "superset", 0, 1, 2, []),
    }
    events, sessions = await announced(client, command_id, len(expected), 2)
    names_by_id = {ids[name]: name for name in LEGACY_NAMES}
    actual = {
        (names_by_id[e["programExerciseId"]], e["week"]): (
            "day1" if e["sessionId"] == ids["day1"] else "day2",
            e["group"]["groupId"],
            e["group"]["kind"],
            e["group"]["orderIndex"],
            e["group"]["orderWithinGroup"],
            e["group"]["size"],
            as_stored(e["series"]),
        )
        for e in events
    }
    for key, (*placement, series) in expected.items():
        numbered_series = series if not series or "orderIndex" in series[0] else numbered(*series)
        assert actual[key] == (*placement, numbered_series), key
    assert len(events) == len(expected)
    for event in events:
        name = names_by_id[event["programExerciseId"]]
        assert event["exerciseId"] == ids[f"{name}-catalog"]
        assert event["prescriptionId"] == derived(
            command_id, f"prescription:{event['programExerciseId']}:{event['week']}"
        )
        assert (event["version"], event["programVersion"], event["deleted"]) == (1, 1, False)
        assert event["tenantId"] == client.tenant_id
    by_session = {s["sessionId"]: s for s in sessions}
    assert [
        [(names_by_id[e["programExerciseId"]], e["name"]) for e in g["exercises"]]
        for g in by_session[ids["day1"]]["groups"]
    ] == [
        [("squat", "Squat")],
        [("row", "Row"), ("bench", "Bench")],
        [("deadlift", "Deadlift")],
        [("pushdown", "Pushdown"), ("raise", "Raise"), ("curl", "Curl")],
    ]
    assert (by_session[ids["day2"]]["name"], by_session[ids["day2"]]["orderIndex"]) == ("Day 2", 1)
    await assert_events_reconstruct_database(client, pool)

    # A replay of the same commandId is a duplicate; the same program again is a conflict.
    await client.send(command)
    replies = lambda: [  # noqa: E731 - read twice below
        json.loads(r.value)
        for r in client.raw[client.topics.command_results]
        if json.loads(r.value)["commandId"] == command_id
    ]
    await client.wait_for(lambda: len(replies()) >= 2)
    assert [(r["status"], r["programVersion"]) for r in replies()] == [
        ("applied", 1),
        ("duplicate", 1),
    ]
    copy = await client.run("program.import", ids["program"], program=legacy_program(ids))
    assert copy["error"]["code"] == "conflict"


async def test_v1_import_takes_the_snapshot_as_it_is(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    existing = await build_program(client)
    program, session, group, squat = new_id(), new_id(), new_id(), new_id()
    snapshot = {
        "name": "Hypertrophy A",
        "weeks": 3,
        "sessions": [
            {
                "sessionId": session,
                "name": "Day 1",
                "groups": [
                    {
                        "groupId": group,
                        "rounds": 3,
                        "exercises": [
                            {
                                "programExerciseId": squat,
                                "exerciseId": new_id(),
                                "name": "Back squat",
                                "prescriptions": [
                                    {"week": 2, "series": [{"reps": 6}]},
                                    {"week": 0, "series": [{"repsMin": 8, "repsMax": 12}]},
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    command = client.command("program.import", program, program=snapshot)
    assert (await client.request(command))["status"] == "applied"
    events, sessions = await client.events_of(command["commandId"], 2, 1)
    assert {e["week"]: as_stored(e["series"]) for e in events} == {
        0: [{"orderIndex": 0, "setType": "working", "repsMin": 8, "repsMax": 12}],
        2: [{"orderIndex": 0, "setType": "working", "reps": 6}],
    }
    assert sessions[0]["groups"][0]["groupId"] == group
    assert sessions[0]["groups"][0]["rounds"] == 3
    await assert_events_reconstruct_database(client, pool)

    # An id that another program already uses is a conflict, with the path of the id.
    snapshot["sessions"][0] |= {"sessionId": new_id()}
    snapshot["sessions"][0]["groups"][0] |= {"groupId": new_id()}
    snapshot["sessions"][0]["groups"][0]["exercises"][0]["programExerciseId"] = existing["squat"]
    taken = await client.run("program.import", new_id(), program=snapshot)
    assert taken["error"]["code"] == "conflict"
    assert taken["error"]["details"][0]["path"].endswith("programExerciseId")


# --- program.republish


async def test_republish_reemits_everything_and_changes_nothing(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=3)
    program = ids["program"]
    await client.applied(
        "series.replace", program, programExerciseId=ids["row"], week=2, series=[{"reps": 3}]
    )
    before = await snapshot_of_database(pool)
    await client.wait_consumed(pool)
    latest_before = client.latest(client.topics.prescription_updated)

    command = client.command("program.republish", program)
    result = await client.request(command)
    assert (result["status"], result["programVersion"]) == ("applied", 6)
    events, sessions = await announced(client, command["commandId"], 4, 1)
    assert await snapshot_of_database(pool) == before
    # The same state; only the event's own fields and the program version it reports differ.
    ignored = {"eventId", "occurredAt", "causationId", "programVersion"}
    assert {
        e["prescriptionId"]: {k: v for k, v in e.items() if k not in ignored} for e in events
    } == {key: {k: v for k, v in e.items() if k not in ignored} for key, e in latest_before.items()}
    assert all(e["causationId"] == command["commandId"] for e in events + sessions)
    assert all(e["programVersion"] == 6 for e in events + sessions)
    await assert_events_reconstruct_database(client, pool)

    other = client.command("program.republish", program)
    other["tenantId"] = "tenant-b"
    refused = await client.request(other)
    assert refused["error"]["code"] == "not_found"
    await client.wait_consumed(pool)
    assert client.prescription_events(other["commandId"]) == []


# --- a long random run of every command


async def test_latest_events_reconstruct_the_database_after_a_long_random_run_of_every_command(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    """Two programs, 300 commands each, sent in rounds of 40 without waiting for each result:
    every outcome is the one the domain core predicts, and the events rebuild the database."""
    generator = CommandGenerator(seed=20261125, programs=2, tenant_id=client.tenant_id)
    sent: list[dict[str, Any]] = []
    for _ in range(15):
        for command in generator.batch(40):
            await client.send(command, key=str(generator.key_of(UUID(command["programId"]))))
            sent.append(command)
        await client.result(sent[-1]["commandId"], timeout=60)
    for command in sent:
        await client.result(command["commandId"], timeout=60)
    outcomes = {c["commandId"]: client.results[c["commandId"]]["status"] for c in sent}
    assert outcomes == generator.expected
    applied = list(outcomes.values()).count("applied")
    assert applied > len(sent) // 2, applied
    assert generator.applied_types() >= {
        "exercise.add",
        "exercise.move",
        "exercises.group",
        "group.ungroup",
        "groups.reorder",
        "group.update",
        "session.copy",
        "batch",
        "program.republish",
        "series.replace",
    }, generator.applied_types()
    await assert_events_reconstruct_database(client, pool)
