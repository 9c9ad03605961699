"""From template to athlete (CONTRACT.md) through the real broker and PostgreSQL: a
template handed to an athlete with one program.copy, loads resolved on the bar, a new max
re-resolving exactly the prescriptions it touches, an exercise swapped in place, unassign, the
stored-state rejections, the new commands in a batch, and an assigned import."""

from __future__ import annotations

import asyncpg

from tests.support.announced import program_announced
from tests.support.kafka import CommandClient
from tests.support.programs import (
    assert_events_reconstruct_database,
    assert_valid_events,
    derived,
    new_id,
    rejected,
)

SQUAT, BENCH, FRONT_SQUAT = new_id(), new_id(), new_id()


def percent_sets(*percents: float, of: str | None = None) -> list[dict[str, object]]:
    sets: list[dict[str, object]] = []
    for value in percents:
        load: dict[str, object] = {"value": value, "unit": "percent1rm"}
        if of is not None:
            load["of"] = of
        sets.append({"reps": 5, "load": load})
    return sets


async def template(client: CommandClient) -> dict[str, str]:
    """A 2-week template: squat 75/85 % (weeks 0 and 1), bench 80 %, an incline bench at 70 %
    of the bench max, and a row in kg (never resolved)."""
    ids = {name: new_id() for name in ("program", "day", "squat", "bench", "incline", "row")}
    program = ids["program"]
    await client.applied("program.create", program, name="Strength template", weeks=2)
    await client.applied("session.add", program, sessionId=ids["day"], name="Day 1")
    for name, exercise_id, series in (
        ("squat", SQUAT, percent_sets(75, 85)),
        ("bench", BENCH, percent_sets(80)),
        ("incline", new_id(), percent_sets(70, of=BENCH)),
        ("row", new_id(), [{"reps": 8, "load": {"value": 60, "unit": "kg"}}]),
    ):
        await client.applied(
            "exercise.add",
            program,
            sessionId=ids["day"],
            programExerciseId=ids[name],
            exerciseId=exercise_id,
            name=name.title(),
            series=series,
        )
    await client.applied(
        "series.replace", program, programExerciseId=ids["squat"], week=1, series=percent_sets(90)
    )
    return ids


SAM = {
    "athleteId": "athlete-sam",
    "maxes": [
        {"exerciseId": SQUAT, "value": 140, "unit": "kg"},
        {"exerciseId": BENCH, "value": 225, "unit": "lb"},
    ],
    "trainingMaxPercent": 90,
    "unit": "kg",
}


def loads(event: dict[str, object]) -> list[object]:
    return [s["resolvedLoad"] for s in event["series"]]  # type: ignore[attr-defined,index]


async def test_a_template_handed_to_an_athlete_resolves_and_re_resolves(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await template(client)
    source = ids["program"]
    assert all(s["resolvedLoad"] is None for e in client.prescription_events() for s in e["series"])

    # Handing the template to Sam: one command.
    command = client.command("program.copy", source, newProgramId=new_id(), athlete=SAM)
    copy = command["newProgramId"]
    assert (await client.request(command))["status"] == "applied"
    prescriptions, _ = await client.events_of(command["commandId"], prescriptions=5, sessions=1)
    [program_event] = await program_announced(client, command["commandId"])
    assert program_event["athlete"] == {
        "athleteId": "athlete-sam",
        "maxes": sorted(SAM["maxes"], key=lambda m: m["exerciseId"]),  # type: ignore[arg-type,return-value]
        "trainingMaxPercent": 90,
        "rounding": {"kg": 2.5, "lb": 5},
        "unit": "kg",
    }
    by_exercise = {(e["programExerciseId"], e["week"]): e for e in prescriptions}

    def of_copy(name: str, week: int = 0) -> dict[str, object]:
        return by_exercise[(derived(command["commandId"], ids[name]), week)]

    # 140 kg x 0.9 = 126: 75 % = 94.5 -> 95, 85 % = 107.1 -> 107.5; week 1, 90 % = 113.4 -> 112.5
    assert loads(of_copy("squat")) == [{"value": 95, "unit": "kg"}, {"value": 107.5, "unit": "kg"}]
    assert loads(of_copy("squat", 1)) == [{"value": 112.5, "unit": "kg"}]
    # 225 lb = 102.05828325 kg x 0.9 = 91.85245...: 80 % = 73.48 -> 72.5; 70 % = 64.30 -> 65
    assert loads(of_copy("bench")) == [{"value": 72.5, "unit": "kg"}]
    assert loads(of_copy("incline")) == [{"value": 65, "unit": "kg"}]
    assert of_copy("incline")["series"][0]["load"]["of"] == BENCH  # type: ignore[index]
    assert loads(of_copy("row")) == [None]
    assert all(e["programVersion"] == 1 and e["version"] == 1 for e in prescriptions)

    # A new squat max: only the squat's prescriptions change, and only they are announced.
    result = await client.applied(
        "maxes.set", copy, maxes=[{"exerciseId": SQUAT, "value": 150, "unit": "kg"}]
    )
    assert result["programVersion"] == 2
    changed, _ = await client.events_of(result["commandId"], prescriptions=2)
    await program_announced(client, result["commandId"])
    assert sorted((e["programExerciseId"], e["week"]) for e in changed) == sorted(
        [
            (derived(command["commandId"], ids["squat"]), 0),
            (derived(command["commandId"], ids["squat"]), 1),
        ]
    )
    # 150 x 0.9 = 135: 75 % = 101.25 -> 102.5 (40.5 plates: a tie, up); 85 % = 114.75 -> 115
    week0 = next(e for e in changed if e["week"] == 0)
    assert loads(week0) == [{"value": 102.5, "unit": "kg"}, {"value": 115, "unit": "kg"}]
    assert week0["version"] == 2
    [maxed] = client.program_events(result["commandId"])
    assert [m["value"] for m in maxed["athlete"]["maxes"] if m["exerciseId"] == SQUAT] == [150]

    # Deleting the bench max un-resolves the bench and the incline (its `of`).
    result = await client.applied("maxes.set", copy, maxes=[{"exerciseId": BENCH, "value": None}])
    changed, _ = await client.events_of(result["commandId"], prescriptions=2)
    assert {e["programExerciseId"] for e in changed} == {
        derived(command["commandId"], ids["bench"]),
        derived(command["commandId"], ids["incline"]),
    }
    assert all(loads(e) == [None] for e in changed)

    # A swap in place: same group, position and prescriptions, a new exerciseId to resolve.
    squat_copy = derived(command["commandId"], ids["squat"])
    result = await client.applied(
        "exercise.update",
        copy,
        programExerciseId=squat_copy,
        exerciseId=FRONT_SQUAT,
        name="Front squat",
        notes="Elbows high",
        alternatives=[{"exerciseId": SQUAT, "name": "Back squat"}],
        progression={"kind": "linear", "loadStep": {"value": 2.5, "unit": "kg"}},
    )
    changed, sessions = await client.events_of(result["commandId"], prescriptions=2, sessions=1)
    assert {(e["exerciseId"], e["week"]) for e in changed} == {(FRONT_SQUAT, 0), (FRONT_SQUAT, 1)}
    assert all(s is None for e in changed for s in loads(e)), "no front squat max yet"
    [session] = sessions
    [exercise] = [
        e for g in session["groups"] for e in g["exercises"] if e["programExerciseId"] == squat_copy
    ]
    assert exercise == {
        "programExerciseId": squat_copy,
        "exerciseId": FRONT_SQUAT,
        "name": "Front squat",
        "orderWithinGroup": 0,
        "notes": "Elbows high",
        "alternatives": [{"exerciseId": SQUAT, "name": "Back squat"}],
        "progression": {
            "kind": "linear",
            "loadStep": {"value": 2.5, "unit": "kg"},
            "failuresBeforeDeload": 3,
            "deloadPercent": 10,
        },
        "warmup": None,  # null when unset
    }
    assert session["groups"][0]["exercises"][0]["programExerciseId"] == squat_copy

    # What only the stored state breaks is invariant_violated.
    swap_back = await rejected(
        client, "exercise.update", copy, programExerciseId=squat_copy, exerciseId=SQUAT
    )
    assert (swap_back["code"], swap_back["details"][0]["path"]) == (
        "invariant_violated",
        "exerciseId",
    )
    on_template = await rejected(
        client, "maxes.set", source, maxes=[{"exerciseId": SQUAT, "value": 100, "unit": "kg"}]
    )
    assert on_template["code"] == "invariant_violated"
    assert (await rejected(client, "program.unassign", source))["code"] == "invariant_violated"
    too_many = await rejected(
        client,
        "maxes.set",
        copy,
        maxes=[{"exerciseId": new_id(), "value": 100, "unit": "kg"} for _ in range(200)],
    )
    assert (too_many["code"], too_many["details"][0]["path"]) == ("invariant_violated", "maxes")

    # Unassign: every resolved load becomes null again, announced where one was resolved.
    result = await client.applied("program.unassign", copy)
    [unassigned] = await program_announced(client, result["commandId"])
    assert unassigned["athlete"] is None
    assert client.prescription_events(result["commandId"]) == [], "nothing was resolved"
    await assert_events_reconstruct_database(client, pool)
    assert_valid_events(client.prescription_events(), client.session_events())


async def test_the_new_commands_in_one_batch_and_an_assigned_import(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await template(client)
    program = ids["program"]
    result = await client.applied(
        "batch",
        program,
        operations=[
            {"type": "program.assign", "athlete": {"athleteId": "athlete-jo", "unit": "lb"}},
            {"type": "maxes.set", "maxes": [{"exerciseId": SQUAT, "value": 315, "unit": "lb"}]},
            {"type": "exercise.update", "programExerciseId": ids["row"], "notes": "Strict"},
            {"type": "program.unassign"},
            {"type": "program.assign", "athlete": {**SAM, "rounding": {"kg": 1.25}}},
        ],
    )
    prescriptions, sessions = await client.events_of(result["commandId"], 4, sessions=1)
    assert [e["notes"] for e in sessions[0]["groups"][3]["exercises"]] == ["Strict"]
    # The row's kg load never resolves: its prescription is not announced.
    assert ids["row"] not in {e["programExerciseId"] for e in prescriptions}
    squat = next(
        e for e in prescriptions if e["programExerciseId"] == ids["squat"] and e["week"] == 0
    )
    # 126 kg training max, 1.25 kg steps: 94.5 / 1.25 = 75.6 -> 76 x 1.25 = 95;
    # 107.1 / 1.25 = 85.68 -> 86 x 1.25 = 107.5
    assert loads(squat) == [{"value": 95, "unit": "kg"}, {"value": 107.5, "unit": "kg"}]
    assert len({e["prescriptionId"] for e in prescriptions}) == len(prescriptions), "one each"

    import_ids = {name: new_id() for name in ("program", "session", "group", "squat")}
    imported = await client.applied(
        "program.import",
        import_ids["program"],
        program={
            "name": "Imported for Ana",
            "athlete": {
                "athleteId": "athlete-ana",
                "maxes": [{"exerciseId": SQUAT, "value": 100, "unit": "kg"}],
            },
            "sessions": [
                {
                    "sessionId": import_ids["session"],
                    "name": "Day 1",
                    "groups": [
                        {
                            "groupId": import_ids["group"],
                            "exercises": [
                                {
                                    "programExerciseId": import_ids["squat"],
                                    "exerciseId": SQUAT,
                                    "name": "Back squat",
                                    "notes": "Pause",
                                    "alternatives": [{"exerciseId": FRONT_SQUAT, "name": "Front"}],
                                    "prescriptions": [{"series": percent_sets(93.75)}],
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    )
    [event], _ = await client.events_of(imported["commandId"], 1)
    assert loads(event) == [{"value": 95, "unit": "kg"}], "93.75 is a tie: up"
    await assert_events_reconstruct_database(client, pool)
