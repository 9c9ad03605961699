"""The athlete's calendar, loads from effort and warm-ups (CONTRACT.md) through the real
broker and PostgreSQL: a squat day placed on the calendar, a top set at RPE 8 resolved from the
athlete's max with its warm-ups, one week moved, the new operations in a batch, the rejections
of each layer, and the events that rebuild the database."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support.announced import announced, program_announced
from tests.support.kafka import CommandClient
from tests.support.programs import assert_events_reconstruct_database, new_id, rejected

SQUAT = new_id()
CLASSIC = {
    "steps": [{"percent": 40, "reps": 5}, {"percent": 60, "reps": 3}, {"percent": 80, "reps": 1}],
    "minLoad": {"value": 20, "unit": "kg"},
}


def weights(sets: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(s["reps"], s["load"]["value"]) for s in sets]


async def test_a_squat_day_on_the_athletes_calendar(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    program, day, squat = new_id(), new_id(), new_id()
    await client.applied("program.create", program, name="Strength block", weeks=3)
    await client.applied(
        "program.assign",
        program,
        athlete={
            "athleteId": "athlete-jo",
            "maxes": [{"exerciseId": SQUAT, "value": 200, "unit": "kg"}],
        },
    )
    await client.applied("session.add", program, sessionId=day, name="Squat day", dayOffset=0)
    added = await client.applied(
        "exercise.add",
        program,
        sessionId=day,
        programExerciseId=squat,
        exerciseId=SQUAT,
        name="Back squat",
        warmup=CLASSIC,
        series=[{"reps": 3, "rpe": 8, "restSeconds": 240}, {"reps": 5, "rir": 2}],
    )
    [event], [session] = await announced(client, added["commandId"], prescriptions=1, sessions=1)
    # 3 @ RPE 8 of 200 kg: 86.3 % = 172.6 -> 172.5; 5 @ RIR 2: 81.1 % = 162.2 -> 162.5.
    assert [s["resolvedLoad"]["value"] for s in event["series"]] == [172.5, 162.5]
    assert weights(event["warmupSets"]) == [(5, 70), (3, 102.5), (1, 137.5)]
    assert event["scheduledDate"] is None, "not on the calendar yet"
    assert (session["dayOffset"], session["rescheduled"]) == (0, [])
    assert session["groups"][0]["exercises"][0]["warmup"]["minLoad"] == {"value": 20, "unit": "kg"}

    await client.applied(
        "series.replace", program, programExerciseId=squat, week=1, series=[{"reps": 3, "rpe": 8.5}]
    )
    scheduled = await client.applied("program.schedule", program, startDate="2027-01-04")
    dated, _ = await client.events_of(scheduled["commandId"], prescriptions=2)
    [program_event] = await program_announced(client, scheduled["commandId"])
    assert program_event["startDate"] == "2027-01-04"
    assert {e["week"]: e["scheduledDate"] for e in dated} == {0: "2027-01-04", 1: "2027-01-11"}

    moved = await client.applied(
        "session.reschedule", program, sessionId=day, week=1, date="2027-01-13"
    )
    [event], [session] = await client.events_of(moved["commandId"], prescriptions=1, sessions=1)
    assert (event["week"], event["scheduledDate"]) == (1, "2027-01-13")
    assert session["rescheduled"] == [{"week": 1, "date": "2027-01-13"}]

    # The new operations stand in a batch: all applied as one version.
    batch = await client.applied(
        "batch",
        program,
        operations=[
            {"type": "session.update", "sessionId": day, "name": "Heavy squat", "dayOffset": 2},
            {"type": "session.reschedule", "sessionId": day, "week": 1, "date": None},
            {"type": "program.schedule", "startDate": "2027-01-11"},
        ],
    )
    dated, _ = await client.events_of(batch["commandId"], prescriptions=2, sessions=1)
    assert {e["week"]: e["scheduledDate"] for e in dated} == {0: "2027-01-13", 1: "2027-01-20"}

    # Each rule in its layer: the command alone, then the stored state.
    bad_date = await rejected(client, "program.schedule", program, startDate="2027-02-30")
    assert (bad_date["code"], bad_date["details"][0]["path"]) == ("validation_failed", "startDate")
    assert "2027-02-30 is not a day of the calendar" in bad_date["message"]
    bad_day = await rejected(client, "session.update", program, sessionId=day, dayOffset=7)
    assert (bad_day["code"], bad_day["details"][0]["path"]) == ("validation_failed", "dayOffset")
    steps = [{"percent": 60, "reps": 3}, {"percent": 40, "reps": 5}]
    bad_steps = await rejected(
        client, "exercise.update", program, programExerciseId=squat, warmup={"steps": steps}
    )
    assert bad_steps["details"][0]["path"] == "warmup.steps[1].percent"
    outside = await rejected(
        client, "session.reschedule", program, sessionId=day, week=3, date="2027-02-01"
    )
    assert (outside["code"], outside["details"][0]["path"]) == ("invariant_violated", "week")

    # A new warm-up announces the prescriptions whose warm-ups it changed: both weeks here.
    changed = await client.applied(
        "exercise.update",
        program,
        programExerciseId=squat,
        warmup={"steps": [{"percent": 50, "reps": 5}], "minLoad": None},
    )
    rewarmed, _ = await client.events_of(changed["commandId"], prescriptions=2, sessions=1)
    # Week 1: 3 @ RPE 8.5 is i 7, 87.8 % = 175.6 -> 175; 50 % = 87.5.
    assert {e["week"]: weights(e["warmupSets"]) for e in rewarmed} == {
        0: [(5, 87.5)],
        1: [(5, 87.5)],
    }
    await assert_events_reconstruct_database(client, pool)
