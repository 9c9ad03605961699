"""The group and program operations through the real broker and PostgreSQL: exercise.move,
exercises.group, group.ungroup, groups.reorder, group.update and session.copy, each applied with
the events it must cause, and a rejection of the structure family travelling back with its code,
message and details (every rejection's code and path: tests/unit/domain/test_rejections.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tests.support.announced import announced
from tests.support.kafka import CommandClient
from tests.support.programs import (
    as_stored,
    assert_events_reconstruct_database,
    build_program,
    database_sessions,
    derived,
    new_id,
)


def placements(events: list[dict[str, Any]]) -> dict[str, tuple[str, str, int, int]]:
    """programExerciseId -> (groupId, kind, group orderIndex, orderWithinGroup) of week-0 events."""
    return {
        e["programExerciseId"]: (
            e["group"]["groupId"],
            e["group"]["kind"],
            e["group"]["orderIndex"],
            e["group"]["orderWithinGroup"],
        )
        for e in events
        if e["week"] == 0 and not e["deleted"]
    }


async def groups_of(pool: asyncpg.Pool, session: str) -> list[list[str]]:
    return [g["exercises"] for g in (await database_sessions(pool))[session]["groups"]]


async def add_standalone(client: CommandClient, program: str, session: str, name: str) -> str:
    exercise = new_id()
    await client.applied(
        "exercise.add",
        program,
        sessionId=session,
        programExerciseId=exercise,
        exerciseId=new_id(),
        name=name,
    )
    return exercise


async def test_exercise_move_within_across_groups_and_into_a_new_group(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    program, session = ids["program"], ids["session"]
    squat, bench, row, superset = ids["squat"], ids["bench"], ids["row"], ids["group"]

    # Within its own group: the row goes first.
    within = await client.applied(
        "exercise.move", program, programExerciseId=row, toGroupId=superset, position=0
    )
    events, sessions = await announced(client, within["commandId"], 2, 1)
    assert placements(events) == {
        row: (superset, "superset", 1, 0),
        bench: (superset, "superset", 1, 1),
    }

    # Across groups: the squat joins the superset, which becomes a circuit; its emptied group
    # is deleted and the circuit shifts to index 0.
    across = await client.applied(
        "exercise.move", program, programExerciseId=squat, toGroupId=superset
    )
    events, _ = await client.events_of(across["commandId"], 3, 1)
    assert placements(events) == {
        row: (superset, "circuit", 0, 0),
        bench: (superset, "circuit", 0, 1),
        squat: (superset, "circuit", 0, 2),
    }
    assert await groups_of(pool, session) == [[row, bench, squat]]

    # Into a new group with a derived id, at index 0 of the session's groups.
    to_new = client.command("exercise.move", program, programExerciseId=bench, toNewGroupAt=0)
    await client.request(to_new)
    new_group = derived(to_new["commandId"], "group")
    events, _ = await client.events_of(to_new["commandId"], 3, 1)
    assert placements(events) == {
        bench: (new_group, "standalone", 0, 0),
        row: (superset, "superset", 1, 0),
        squat: (superset, "superset", 1, 1),
    }

    # Across sessions, into a given new group id; its prescriptions of every week go with it.
    await client.applied("series.replace", program, programExerciseId=row, week=2, series=[])
    day2, target = new_id(), new_id()
    await client.applied("session.add", program, sessionId=day2, name="Day 2")
    moved = await client.applied(
        "exercise.move",
        program,
        programExerciseId=row,
        toSessionId=day2,
        toNewGroupAt=0,
        newGroupId=target,
    )
    events, sessions = await client.events_of(moved["commandId"], 3, 2)
    by_week = {(e["programExerciseId"], e["week"]): e for e in events}
    assert by_week[(row, 2)]["sessionId"] == day2
    assert by_week[(row, 0)]["group"]["groupId"] == target
    assert by_week[(squat, 0)]["group"] == {
        "groupId": superset,
        "kind": "standalone",
        "orderIndex": 1,
        "orderWithinGroup": 0,
        "size": 1,
    }
    assert {s["sessionId"] for s in sessions} == {session, day2}
    assert await groups_of(pool, day2) == [[row]]
    await assert_events_reconstruct_database(client, pool)


async def test_a_structure_rejection_comes_back_with_its_code_message_and_details(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    """Another program's group is as unknown as one that does not exist."""
    ids = await build_program(client)
    other = await build_program(client)
    before = await database_sessions(pool)
    result = await client.run(
        "exercise.move", ids["program"], programExerciseId=ids["squat"], toGroupId=other["group"]
    )
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "not_found"
    assert other["group"] in result["error"]["message"]
    [detail] = result["error"]["details"]
    assert detail["path"] == "toGroupId" and detail["reason"]
    assert result["programVersion"] is None
    assert await database_sessions(pool) == before


async def test_exercises_group_forms_a_group_where_the_first_stood(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    program, session = ids["program"], ids["session"]
    press = await add_standalone(client, program, session, "Overhead press")
    # Groups: [squat] [bench, row] [press]. Grouping press, bench: the superset keeps the row,
    # and the new group takes the place of the press's group (index 2 before, 2 after).
    command = client.command(
        "exercises.group", program, sessionId=session, programExerciseIds=[press, ids["bench"]]
    )
    result = await client.request(command)
    assert result["status"] == "applied", result
    group = derived(command["commandId"], "group")
    events, _ = await announced(client, command["commandId"], 3, 1)
    assert placements(events) == {
        press: (group, "superset", 2, 0),
        ids["bench"]: (group, "superset", 2, 1),
        ids["row"]: (ids["group"], "standalone", 1, 0),
    }

    # All of a group's members regrouped elsewhere: the emptied groups are deleted, and the
    # explicit position counts the groups that remain.
    circuit = new_id()
    await client.applied(
        "exercises.group",
        program,
        sessionId=session,
        programExerciseIds=[ids["row"], ids["squat"], press],
        groupId=circuit,
        position=0,
    )
    assert await groups_of(pool, session) == [[ids["row"], ids["squat"], press], [ids["bench"]]]
    await assert_events_reconstruct_database(client, pool)


async def test_group_update_ungroup_and_reorder(client: CommandClient, pool: asyncpg.Pool) -> None:
    ids = await build_program(client)
    program, session, superset = ids["program"], ids["session"], ids["group"]
    curl = new_id()
    await client.applied(
        "exercise.add",
        program,
        sessionId=session,
        programExerciseId=curl,
        exerciseId=new_id(),
        name="Curl",
        groupId=superset,
    )

    # group.update: set, then clear one and leave the others as they are.
    await client.applied(
        "group.update", program, groupId=superset, rounds=3, restBetweenRoundsSeconds=120, notes="x"
    )
    cleared = await client.applied("group.update", program, groupId=superset, notes=None)
    _, sessions = await announced(client, cleared["commandId"], 0, 1)
    settings = sessions[0]["groups"][1]
    assert (settings["rounds"], settings["restBetweenRoundsSeconds"], settings["notes"]) == (
        3,
        120,
        None,
    )
    # Settings do not change any prescription: no prescription event.
    assert client.prescription_events(cleared["commandId"]) == []

    # group.reorder: the circuit first.
    reordered = await client.applied(
        "groups.reorder",
        program,
        sessionId=session,
        groupIds=[superset, sessions[0]["groups"][0]["groupId"]],
    )
    events, _ = await client.events_of(reordered["commandId"], 4, 1)
    assert {e["programExerciseId"]: e["group"]["orderIndex"] for e in events} == {
        ids["bench"]: 0,
        ids["row"]: 0,
        curl: 0,
        ids["squat"]: 1,
    }

    # group.ungroup: each member standalone, in place; the first keeps the group id, the others
    # get ids derived from their programExerciseId; the group settings go with the grouping.
    ungroup = client.command("group.ungroup", program, groupId=superset)
    await client.request(ungroup)
    events, sessions = await client.events_of(ungroup["commandId"], 4, 1)
    assert placements(events) == {
        ids["bench"]: (superset, "standalone", 0, 0),
        ids["row"]: (derived(ungroup["commandId"], ids["row"]), "standalone", 1, 0),
        curl: (derived(ungroup["commandId"], curl), "standalone", 2, 0),
        ids["squat"]: (sessions[0]["groups"][3]["groupId"], "standalone", 3, 0),
    }
    assert all(g["rounds"] is None and g["notes"] is None for g in sessions[0]["groups"])
    await assert_events_reconstruct_database(client, pool)


async def test_session_copy_is_deep_with_derived_ids(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=3)
    program, session = ids["program"], ids["session"]
    await client.applied("group.update", program, groupId=ids["group"], rounds=4)
    await client.applied(
        "series.replace", program, programExerciseId=ids["row"], week=2, series=[{"reps": 8}]
    )
    day2 = new_id()
    await client.applied("session.add", program, sessionId=day2, name="Day 2")

    new_session = new_id()
    copy = client.command("session.copy", program, sessionId=session, newSessionId=new_session)
    result = await client.request(copy)
    assert result["status"] == "applied", result
    command = copy["commandId"]
    # 4 prescriptions copied (squat w0, bench w0, row w0 and w2); Day 2 shifts to index 2.
    events, sessions = await announced(client, command, 4, 2)
    by_id = {s["sessionId"]: s for s in sessions}
    assert by_id[day2]["orderIndex"] == 2
    copied = by_id[new_session]
    assert (copied["name"], copied["orderIndex"]) == ("Day 1", 1)
    assert [
        (g["groupId"], g["kind"], g["rounds"], [e["programExerciseId"] for e in g["exercises"]])
        for g in copied["groups"]
    ] == [
        (derived(command, new_group_source), kind, rounds, [derived(command, m) for m in members])
        for new_group_source, kind, rounds, members in [
            (await group_of(pool, ids["squat"]), "standalone", None, [ids["squat"]]),
            (ids["group"], "superset", 4, [ids["bench"], ids["row"]]),
        ]
    ]
    source = await pool.fetch(
        """SELECT p.id, p.week, p.series FROM prescriptions p
           JOIN program_exercises pe ON pe.id = p.program_exercise_id
           WHERE pe.session_id = $1""",
        uuid.UUID(session),
    )
    assert {(e["prescriptionId"], e["week"]) for e in events} == {
        (derived(command, str(r["id"])), r["week"]) for r in source
    }
    assert sorted(map(str, (as_stored(e["series"]) for e in events))) == sorted(
        map(str, (r["series"] for r in source))
    )
    await assert_events_reconstruct_database(client, pool)

    # Copying the same session again with the same commandId would be a duplicate; with a new
    # commandId it derives new ids, so it is not a conflict.
    again = await client.run("session.copy", program, sessionId=session, newSessionId=new_id())
    assert again["status"] == "applied"


async def group_of(pool: asyncpg.Pool, program_exercise: str) -> str:
    return str(
        await pool.fetchval(
            "SELECT group_id FROM program_exercises WHERE id = $1", uuid.UUID(program_exercise)
        )
    )
