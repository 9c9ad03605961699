"""Weeks and progression (CONTRACT.md) through the real broker and PostgreSQL: week labels,
week.copy, week.insert, week.remove and series.progress, each applied and with each of its
rejections, the events they cause, and a coach's whole block built from week 0."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tests.support.announced import announced, program_announced
from tests.support.kafka import CommandClient
from tests.support.programs import (
    as_stored,
    assert_events_reconstruct_database,
    build_program,
    derived,
    new_id,
    rejected,
)
from tests.support.results import assert_rejected


def weeks_of(client: CommandClient, exercise: str) -> dict[int, dict[str, Any]]:
    """The latest live prescription event of each week of one exercise."""
    latest = client.latest(client.topics.prescription_updated).values()
    return {e["week"]: e for e in latest if e["programExerciseId"] == exercise and not e["deleted"]}


def kg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "kg"}


async def give_the_squat_reps(
    client: CommandClient, ids: dict[str, str], reps_by_week: dict[int, int]
) -> None:
    """In each week named, the squat's series becomes one set of that many reps; each week's
    event has arrived when this returns (a test reads these weeks as "before")."""
    for week, reps in reps_by_week.items():
        replaced = await client.applied(
            "series.replace",
            ids["program"],
            programExerciseId=ids["squat"],
            week=week,
            series=[{"reps": reps}],
        )
        await announced(client, replaced["commandId"], 1)


async def test_week_labels_are_replaced_ordered_and_dropped_with_their_weeks(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=6)
    program = ids["program"]
    labels = [{"week": 5, "label": "test"}, {"week": 3, "label": "deload"}]
    result = await client.applied("program.update", program, weekLabels=labels)

    [event] = await program_announced(client, result["commandId"])
    assert event["weekLabels"] == [{"week": 3, "label": "deload"}, {"week": 5, "label": "test"}]
    assert (event["name"], event["weeks"], event["source"]) == ("Strength block", 6, None)
    assert event["sessionIds"] == [ids["session"]]
    assert event["programVersion"] == result["programVersion"]

    shrink = await client.applied("program.update", program, weeks=4)
    [shrunk] = await program_announced(client, shrink["commandId"])
    assert shrunk["weekLabels"] == [{"week": 3, "label": "deload"}]
    stored = await pool.fetchval(
        "SELECT week_labels FROM programs WHERE id = $1", uuid.UUID(program)
    )
    assert stored == [{"week": 3, "label": "deload"}]

    outside = await rejected(
        client, "program.update", program, weekLabels=[{"week": 4, "label": "x"}]
    )
    assert_rejected(outside, "invariant_violated", "weekLabels[0].week")
    assert "4 weeks" in outside["message"]
    twice = await rejected(
        client,
        "program.update",
        program,
        weekLabels=[{"week": 1, "label": "a"}, {"week": 1, "label": "b"}],
    )
    assert_rejected(twice, "validation_failed", "weekLabels[1]")
    too_long = await rejected(
        client, "program.update", program, weekLabels=[{"week": 1, "label": "x" * 41}]
    )
    assert_rejected(too_long, "validation_failed", "weekLabels[0].label")
    cleared = await client.applied("program.update", program, weekLabels=[])
    [emptied] = await program_announced(client, cleared["commandId"])
    assert emptied["weekLabels"] == []
    await assert_events_reconstruct_database(client, pool)


async def test_week_copy_writes_every_target_with_derived_ids_and_leaves_the_rest(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    await client.applied(
        "series.replace", program, programExerciseId=ids["squat"], week=2, series=[{"reps": 1}]
    )
    command = client.command("week.copy", program, fromWeek=0, toWeeks=[1, 2])
    result = await client.request(command)
    assert result["status"] == "applied", result
    # Every exercise has a week-0 prescription, so each gets weeks 1 and 2.
    prescriptions, sessions = await announced(client, command["commandId"], 6)
    assert sessions == []
    squat = weeks_of(client, ids["squat"])
    assert squat[1]["series"] == squat[2]["series"] == squat[0]["series"]
    assert squat[1]["prescriptionId"] == derived(
        command["commandId"], f"prescription:{ids['squat']}:1"
    )
    assert squat[2]["version"] == 2, "the existing week 2 was replaced, not created"

    # One session only: an exercise outside it is left alone.
    other_session = new_id()
    await client.applied("session.add", program, sessionId=other_session, name="Day 2")
    deadlift = new_id()
    await client.applied(
        "exercise.add",
        program,
        sessionId=other_session,
        programExerciseId=deadlift,
        exerciseId=new_id(),
        name="Deadlift",
        series=[{"reps": 3, "load": kg(180)}],
    )
    scoped = await client.applied(
        "week.copy", program, fromWeek=0, toWeeks=[3], sessionId=other_session
    )
    prescriptions, _ = await client.events_of(scoped["commandId"], 1)
    assert [(e["programExerciseId"], e["week"]) for e in prescriptions] == [(deadlift, 3)]
    assert 3 not in weeks_of(client, ids["squat"])

    beyond = await rejected(client, "week.copy", program, fromWeek=0, toWeeks=[1, 4])
    assert_rejected(beyond, "invariant_violated", "toWeeks[1]")
    assert "4 weeks" in beyond["message"]
    itself = await rejected(client, "week.copy", program, fromWeek=1, toWeeks=[1])
    assert_rejected(itself, "validation_failed", "toWeeks[0]")
    unknown = await rejected(
        client, "week.copy", program, fromWeek=0, toWeeks=[1], sessionId=new_id()
    )
    assert_rejected(unknown, "not_found", "sessionId")
    await assert_events_reconstruct_database(client, pool)


async def test_week_insert_moves_later_weeks_and_labels_keeping_prescription_ids(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    await give_the_squat_reps(client, ids, {1: 4, 2: 3, 3: 2})
    await client.applied("program.update", program, weekLabels=[{"week": 2, "label": "heavy"}])
    before = weeks_of(client, ids["squat"])
    command = client.command("week.insert", program, at=2, count=2)
    result = await client.request(command)
    assert result["status"] == "applied", result

    prescriptions, _ = await client.events_of(command["commandId"], 2)
    assert sorted((e["prescriptionId"], e["week"]) for e in prescriptions) == sorted(
        [(before[2]["prescriptionId"], 4), (before[3]["prescriptionId"], 5)]
    )
    after = weeks_of(client, ids["squat"])
    assert after[4]["series"] == before[2]["series"] and after[5]["series"] == before[3]["series"]
    assert 2 not in after and 3 not in after, "the inserted weeks are empty"
    [event] = await program_announced(client, command["commandId"])
    assert (event["weeks"], event["weekLabels"]) == (6, [{"week": 4, "label": "heavy"}])

    at_start = await client.applied("week.insert", program, at=0)
    # Every squat week moves (0, 1, 4, 5 -> 1, 2, 5, 6) and week 0 is written again: five events
    # of the squat, on their own partitions (waiting for any four may see other exercises').
    await client.wait_for(
        lambda: (
            sum(
                e["programExerciseId"] == ids["squat"]
                for e in client.prescription_events(at_start["commandId"])
            )
            == 5
        ),
        20,
    )
    moved = weeks_of(client, ids["squat"])
    assert moved[1]["series"] == before[0]["series"]
    assert moved[0]["series"] == [], "week 0 exists again, empty"

    past = await rejected(client, "week.insert", program, at=7, count=46)
    assert_rejected(past, "invariant_violated", "count")
    assert "52" in past["message"]
    nowhere = await rejected(client, "week.insert", program, at=8)
    assert_rejected(nowhere, "invariant_violated", "at")
    await assert_events_reconstruct_database(client, pool)


async def test_week_remove_deletes_one_week_and_moves_the_rest_down(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    await give_the_squat_reps(client, ids, {1: 11, 2: 12})
    await client.applied(
        "program.update",
        program,
        weekLabels=[{"week": 1, "label": "volume"}, {"week": 2, "label": "deload"}],
    )
    before = weeks_of(client, ids["squat"])
    command = client.command("week.remove", program, week=1)
    assert (await client.request(command))["status"] == "applied"
    prescriptions, _ = await client.events_of(command["commandId"], 2)
    assert {(e["prescriptionId"], e["week"], e["deleted"]) for e in prescriptions} == {
        (before[1]["prescriptionId"], 1, True),
        (before[2]["prescriptionId"], 1, False),
    }
    [event] = await program_announced(client, command["commandId"])
    assert (event["weeks"], event["weekLabels"]) == (3, [{"week": 1, "label": "deload"}])

    # Removing week 0: week 1 becomes week 0; an exercise without week 1 gets an empty week 0.
    first = client.command("week.remove", program, week=0)
    assert (await client.request(first))["status"] == "applied"
    # Each of the three exercises loses week 0; the squat's week 1 moves down, the bench and the
    # row get an empty week 0: all six events (waiting for five may miss the one read below).
    await client.events_of(first["commandId"], 6)
    squat, bench = weeks_of(client, ids["squat"]), weeks_of(client, ids["bench"])
    assert squat[0]["prescriptionId"] == before[2]["prescriptionId"]
    assert squat[0]["series"] == before[2]["series"]
    assert bench[0]["series"] == []
    assert bench[0]["prescriptionId"] == derived(
        first["commandId"], f"prescription:{ids['bench']}:0"
    )

    outside = await rejected(client, "week.remove", program, week=2)
    assert_rejected(outside, "invariant_violated", "week")
    await client.applied("week.remove", program, week=1)
    only = await rejected(client, "week.remove", program, week=0)
    assert only["code"] == "invariant_violated"
    assert "only week" in only["message"]
    await assert_events_reconstruct_database(client, pool)


async def test_series_progress_follows_the_arithmetic_rule(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=5)
    program, squat = ids["program"], ids["squat"]
    await client.applied(
        "series.replace",
        program,
        programExerciseId=squat,
        series=[
            {"setType": "warmup", "reps": 5, "load": {"value": 60.333, "unit": "kg"}},
            {"repsMin": 6, "repsMax": 8, "load": kg(100), "rpe": 7.5, "rir": 3},
            {"reps": 10, "load": {"value": 0, "unit": "bodyweight"}},
        ],
    )
    command = client.command(
        "series.progress",
        program,
        programExerciseId=squat,
        toWeeks=[1, 3],
        step={"load": 2.5, "reps": -1, "rpe": 0.5, "rir": -1},
    )
    assert (await client.request(command))["status"] == "applied"
    await announced(client, command["commandId"], 2)
    week = weeks_of(client, squat)
    assert as_stored(week[3]["series"]) == [
        {
            "orderIndex": 0,
            "setType": "warmup",
            "reps": 2,
            "load": {"value": 67.83, "unit": "kg"},
        },
        {
            "orderIndex": 1,
            "setType": "working",
            "repsMin": 3,
            "repsMax": 5,
            "load": kg(107.5),
            "rpe": 9.0,
            "rir": 0,
        },
        {
            "orderIndex": 2,
            "setType": "working",
            "reps": 7,
            "load": {"value": 0, "unit": "bodyweight"},
        },
    ]
    assert week[1]["series"][1]["load"] == kg(102.5)
    assert week[1]["prescriptionId"] == derived(command["commandId"], f"prescription:{squat}:1")

    async def rejected_progress(**fields: Any) -> dict[str, Any]:
        """A series.progress of the squat that must be refused; its error."""
        return await rejected(client, "series.progress", program, programExerciseId=squat, **fields)

    versions = {w: e["version"] for w, e in weeks_of(client, squat).items()}
    too_far = await rejected_progress(toWeeks=[2, 4], step={"reps": -2})
    assert_rejected(too_far, "invariant_violated", "toWeeks[1]")
    assert "reps would be -3" in too_far["message"] and "0..1000" in too_far["message"]
    assert {w: e["version"] for w, e in weeks_of(client, squat).items()} == versions
    assert (
        2 not in versions
        and await pool.fetchval(
            "SELECT count(*) FROM prescriptions WHERE program_exercise_id = $1 AND week = 2",
            uuid.UUID(squat),
        )
        == 0
    ), "nothing was written"
    rpe = await rejected_progress(toWeeks=[4], step={"rpe": 1})
    assert "rpe would be 11.5" in rpe["message"] and "1..10" in rpe["message"]
    missing = await rejected_progress(fromWeek=2, toWeeks=[4], step={"load": 1})
    assert_rejected(missing, "not_found", "fromWeek")
    beyond = await rejected_progress(toWeeks=[5], step={"load": 1})
    assert_rejected(beyond, "invariant_violated", "toWeeks[0]")
    assert "5 weeks" in beyond["message"]
    backwards = await rejected_progress(fromWeek=3, toWeeks=[1], step={"load": 1})
    assert_rejected(backwards, "validation_failed", "toWeeks[0]")
    nothing = await rejected_progress(toWeeks=[1], step={})
    assert_rejected(nothing, "validation_failed", "step")
    await assert_events_reconstruct_database(client, pool)


async def test_week_commands_inside_a_batch_apply_all_or_nothing(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=3)
    program = ids["program"]
    operations: list[dict[str, Any]] = [
        {"type": "week.insert", "at": 3, "count": 2},
        {"type": "week.copy", "fromWeek": 0, "toWeeks": [1, 2]},
        {
            "type": "series.progress",
            "programExerciseId": ids["squat"],
            "toWeeks": [3, 4],
            "step": {"load": 5},
        },
        {"type": "week.remove", "week": 2},
    ]
    result = await client.applied("batch", program, operations=operations)
    [event] = await program_announced(client, result["commandId"])
    assert event["weeks"] == 4
    await assert_events_reconstruct_database(client, pool)
    squat = weeks_of(client, ids["squat"])
    assert [squat[w]["series"][0]["load"]["value"] for w in (0, 1, 2, 3)] == [140, 140, 155, 160]

    failing = await rejected(
        client,
        "batch",
        program,
        operations=[{"type": "week.insert", "at": 0}, {"type": "week.remove", "week": 9}],
    )
    assert failing["details"][0]["path"] == "operations[1].week"
    assert await pool.fetchval("SELECT weeks FROM programs") == 4


async def test_a_coach_builds_a_block_from_week_0(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    """Week 0 built, spread over 4 weeks (+2.5 kg, +1 rep), week 3 labelled and deloaded by
    hand, then a week inserted before it because the athlete travels. A copy of the session and
    an import of the program rebuilt from the latest events carry every week and label."""
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    await client.applied(
        "series.replace",
        program,
        programExerciseId=ids["bench"],
        series=[{"reps": 8, "load": kg(80), "restSeconds": 90}] * 3,
    )
    await client.applied(
        "series.progress",
        program,
        programExerciseId=ids["squat"],
        toWeeks=[1, 2, 3],
        step={"load": 2.5},
    )
    await client.applied(
        "series.progress",
        program,
        programExerciseId=ids["bench"],
        toWeeks=[1, 2, 3],
        step={"reps": 1},
    )
    await client.applied("program.update", program, weekLabels=[{"week": 3, "label": "deload"}])
    await client.applied(
        "series.replace",
        program,
        programExerciseId=ids["squat"],
        week=3,
        series=[{"reps": 5, "load": kg(100)}],
    )
    await client.applied("week.insert", program, at=3)
    await assert_events_reconstruct_database(client, pool)

    squat, bench = weeks_of(client, ids["squat"]), weeks_of(client, ids["bench"])
    assert [squat[w]["series"][0]["load"]["value"] for w in (0, 1, 2, 4)] == [140, 142.5, 145, 100]
    assert [bench[w]["series"][0]["reps"] for w in (0, 1, 2, 4)] == [8, 9, 10, 11]
    assert 3 not in squat and 3 not in bench
    program_event = client.latest(client.topics.program_updated)[program]
    assert (program_event["weeks"], program_event["weekLabels"]) == (
        5,
        [{"week": 4, "label": "deload"}],
    )

    # The session copied carries every week; the program rebuilt from the events imports whole.
    copy = client.command("session.copy", program, sessionId=ids["session"], newSessionId=new_id())
    assert (await client.request(copy))["status"] == "applied"
    # Its events travel on other partitions than its result: wait for every copied week.
    await client.events_of(copy["commandId"], len(squat) + len(bench))
    copied = weeks_of(client, derived(copy["commandId"], ids["squat"]))
    assert {w: e["series"] for w, e in copied.items()} == {w: e["series"] for w, e in squat.items()}

    sessions = client.latest(client.topics.session_updated)
    snapshot = {
        "format": "v1",
        "name": program_event["name"],
        "weeks": program_event["weeks"],
        "weekLabels": program_event["weekLabels"],
        "sessions": [
            {
                "sessionId": new_id(),
                "name": sessions[ids["session"]]["name"],
                "groups": [
                    {
                        "groupId": new_id(),
                        "exercises": [
                            {
                                "programExerciseId": new_id(),
                                "exerciseId": member["exerciseId"],
                                "name": member["name"],
                                "prescriptions": [
                                    {"week": w, "series": as_stored(e["series"])}
                                    for w, e in sorted(
                                        weeks_of(client, member["programExerciseId"]).items()
                                    )
                                ],
                            }
                            for member in group["exercises"]
                        ],
                    }
                    for group in sessions[ids["session"]]["groups"]
                ],
            }
        ],
    }
    imported = new_id()
    result = await client.applied("program.import", imported, program=snapshot)
    [event] = await program_announced(client, result["commandId"])
    assert (event["weeks"], event["weekLabels"]) == (5, [{"week": 4, "label": "deload"}])
    await assert_events_reconstruct_database(client, pool)
