"""Programs the tests share: a small program (built through Kafka here, in memory by
`tests.support.domain`), the contract's id derivation, and the check that the latest event per
key equals the database (what a compacting downstream consumer would hold)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from contracts.athletes import Athlete
from contracts.events import PrescriptionUpdated, ProgramUpdated, SessionUpdated
from contracts.exercises import Warmup
from service.domain.calendar import scheduled_date
from service.domain.derived import loads_of
from service.domain.loads import ResolvedLoad, resolution_of
from service.domain.model import ProgramExercise
from tests.support.kafka import CommandClient


def new_id() -> str:
    return str(uuid.uuid4())


def derived(command_id: str, name: str) -> str:
    """The contract's id derivation, computed independently of the service's code."""
    return str(uuid.uuid5(uuid.UUID(command_id), name))


def new_program_ids() -> dict[str, str]:
    return {name: new_id() for name in ("program", "session", "squat", "bench", "row", "group")}


def build_steps(ids: dict[str, str], weeks: int = 4) -> list[tuple[str, dict[str, Any]]]:
    """(type, fields) of the commands that build a program with one session holding a squat
    (standalone, one set of 5 @ 140 kg) and a bench + row superset: version 5 when done."""
    session = ids["session"]
    return [
        ("program.create", {"name": "Strength block", "weeks": weeks}),
        ("session.add", {"sessionId": session, "name": "Day 1"}),
        (
            "exercise.add",
            {
                "sessionId": session,
                "programExerciseId": ids["squat"],
                "exerciseId": new_id(),
                "name": "Back squat",
                "series": [{"reps": 5, "load": {"value": 140, "unit": "kg"}}],
            },
        ),
        (
            "exercise.add",
            {
                "sessionId": session,
                "programExerciseId": ids["bench"],
                "exerciseId": new_id(),
                "name": "Bench press",
                "newGroupId": ids["group"],
            },
        ),
        (
            "exercise.add",
            {
                "sessionId": session,
                "programExerciseId": ids["row"],
                "exerciseId": new_id(),
                "name": "Barbell row",
                "groupId": ids["group"],
            },
        ),
    ]


async def build_program(client: CommandClient, weeks: int = 4) -> dict[str, str]:
    """The program of `build_steps`, through Kafka."""
    ids = new_program_ids()
    for kind, fields in build_steps(ids, weeks):
        await client.applied(kind, ids["program"], **fields)
    return ids


def legacy_program(ids: dict[str, str]) -> dict[str, Any]:
    """A pre-refactor program: mixed standalones, a superset and a circuit, split rows."""

    def exercise(
        name: str,
        order: int,
        superset: int | None,
        superset_order: int | None,
        rows: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "programExerciseId": ids[name],
            "exerciseId": ids[f"{name}-catalog"],
            "name": name.title(),
            "orderIndex": order,
            "supersetGroup": superset,
            "supersetOrder": superset_order,
            "prescriptionRows": rows,
        }

    heavy = {"sets": 2, "reps": 5, "weight": 100, "rpe": 7, "restSeconds": 180}
    top = {"sets": 1, "reps": 3, "weight": 110.5, "rpe": 9, "restSeconds": 240}
    return {
        "format": "legacy",
        "name": "Old block",
        "weeks": 2,
        "sessions": [
            {
                "sessionId": ids["day1"],
                "name": "Day 1",
                # Listed out of order on purpose: orderIndex decides.
                "exercises": [
                    exercise("bench", 1, 7, 1, [{"sets": 3, "reps": 8, "weight": None}]),
                    exercise("squat", 0, None, None, [heavy, top, {**top, "week": 1}]),
                    exercise("row", 2, 7, 0, [{"sets": 3, "reps": 10, "restSeconds": 90}]),
                    exercise("deadlift", 3, None, 4, []),
                    exercise("curl", 6, 9, 0, [{"sets": 2, "reps": 12}]),
                    exercise("pushdown", 4, 9, 0, [{"sets": 2, "reps": 15}]),
                    exercise("raise", 5, 9, 0, [{"sets": 1, "reps": 20, "rpe": 9.5}]),
                ],
            },
            {
                "sessionId": ids["day2"],
                "name": "Day 2",
                "exercises": [
                    exercise("lunge", 0, 7, 0, [{"week": 1, "sets": 1, "reps": 10}]),
                    exercise("plank", 1, 7, 1, []),
                ],
            },
        ],
    }


LEGACY_NAMES = ("bench", "squat", "row", "deadlift", "curl", "pushdown", "raise", "lunge", "plank")


def legacy_ids() -> dict[str, str]:
    ids = {name: new_id() for name in ("program", "day1", "day2", *LEGACY_NAMES)}
    return ids | {f"{name}-catalog": new_id() for name in LEGACY_NAMES}


async def rejected(client: CommandClient, kind: str, program: str, **fields: Any) -> dict[str, Any]:
    """Run a command that must be refused; its error."""
    result = await client.run(kind, program, **fields)
    assert result["status"] == "rejected", result
    error: dict[str, Any] = result["error"]
    return error


def assert_valid_program_events(events: list[dict[str, Any]]) -> None:
    for event in events:
        ProgramUpdated.model_validate(event, strict=False)


def assert_valid_events(
    prescriptions: list[dict[str, Any]], sessions: list[dict[str, Any]]
) -> None:
    for event in prescriptions:
        PrescriptionUpdated.model_validate(event, strict=False)
    for event in sessions:
        SessionUpdated.model_validate(event, strict=False)


async def assert_events_reconstruct_database(client: CommandClient, pool: asyncpg.Pool) -> None:
    """The latest event per key on the three event topics equals every program in the
    database."""
    await client.wait_consumed(pool)
    # One snapshot of the database for every table read below.
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        await _assert_matches(client, connection)


async def _assert_matches(client: CommandClient, database: Any) -> None:
    events = client.latest(client.topics.prescription_updated)
    latest = {key: event for key, event in events.items() if not event["deleted"]}
    rows = await database.fetch(
        """SELECT p.id, p.program_exercise_id, p.week, p.version, p.series, pe.session_id,
                  pe.exercise_id, g.id AS group_id, g.order_index, pe.order_within_group,
                  (SELECT count(*) FROM program_exercises m WHERE m.group_id = g.id) AS size,
                  pr.athlete, pe.warmup, pr.start_date, s.day_offset, s.rescheduled
           FROM prescriptions p
           JOIN program_exercises pe ON pe.id = p.program_exercise_id
           JOIN exercise_groups g ON g.id = pe.group_id
           JOIN sessions s ON s.id = pe.session_id
           JOIN programs pr ON pr.id = p.program_id"""
    )
    kinds = {1: "standalone", 2: "superset"}
    # What each event derives from the program as stored.
    for r in rows:
        event = latest.get(str(r["id"]))
        if event is None:
            continue
        assert derived_fields(event) == derived_from_row(r), f"prescription {r['id']}"
    assert {
        str(r["id"]): {
            "programExerciseId": str(r["program_exercise_id"]),
            "sessionId": str(r["session_id"]),
            "exerciseId": str(r["exercise_id"]),
            "week": r["week"],
            "version": r["version"],
            "series": r["series"],
            "group": {
                "groupId": str(r["group_id"]),
                "kind": kinds.get(r["size"], "circuit"),
                "orderIndex": r["order_index"],
                "orderWithinGroup": r["order_within_group"],
                "size": r["size"],
            },
        }
        for r in rows
    } == {
        key: {
            **{field: event[field] for field in FIELDS_OF_A_PRESCRIPTION},
            "series": [
                {k: v for k, v in item.items() if k != "resolvedLoad"} for item in event["series"]
            ],
        }
        for key, event in latest.items()
    }

    sessions = {
        key: event
        for key, event in client.latest(client.topics.session_updated).items()
        if not event["deleted"]
    }
    assert await database_sessions(database) == {
        key: {
            "name": event["name"],
            "orderIndex": event["orderIndex"],
            "groups": [
                {
                    "groupId": group["groupId"],
                    "rounds": group["rounds"],
                    "restBetweenRoundsSeconds": group["restBetweenRoundsSeconds"],
                    "notes": group["notes"],
                    "format": group["format"],
                    "timeCapSeconds": group["timeCapSeconds"],
                    "intervalSeconds": group["intervalSeconds"],
                    "intervalRestSeconds": group["intervalRestSeconds"],
                    "exercises": [e["programExerciseId"] for e in group["exercises"]],
                }
                for group in event["groups"]
            ],
        }
        for key, event in sessions.items()
    }
    # Each session's day of the week and reschedulings, as stored.
    assert {
        str(r["id"]): {"dayOffset": r["day_offset"], "rescheduled": r["rescheduled"]}
        for r in await database.fetch("SELECT id, day_offset, rescheduled FROM sessions")
    } == {
        key: {"dayOffset": event["dayOffset"], "rescheduled": event["rescheduled"]}
        for key, event in sessions.items()
    }
    # What the coach attached to each exercise (its warm-up too), as stored.
    exercise_rows = await database.fetch(
        """SELECT id, exercise_id, name, notes, alternatives, progression, warmup
           FROM program_exercises"""
    )
    attached = ("exerciseId", "name", "notes", "alternatives", "progression", "warmup")
    assert {
        str(r["id"]): {
            "exerciseId": str(r["exercise_id"]),
            "name": r["name"],
            "notes": r["notes"],
            "alternatives": r["alternatives"],
            "progression": r["progression"],
            "warmup": r["warmup"],
        }
        for r in exercise_rows
    } == {
        e["programExerciseId"]: {field: e[field] for field in attached}
        for event in sessions.values()
        for group in event["groups"]
        for e in group["exercises"]
    }
    assert await database_programs(database) == {
        key: {
            "name": event["name"],
            "weeks": event["weeks"],
            "weekLabels": event["weekLabels"],
            "sessionIds": event["sessionIds"],
            "source": event["source"],
            "athlete": event["athlete"],
            "startDate": event["startDate"],
        }
        for key, event in client.latest(client.topics.program_updated).items()
        if not event["deleted"]
    }


async def database_programs(pool: asyncpg.Pool | asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """Every program's own state (its version moves with every command, its event only when
    this state changes, so the version is not part of it)."""
    rows = await pool.fetch(
        """SELECT p.id, p.name, p.weeks, p.week_labels, p.source_program_id,
                  p.source_program_version, p.athlete, p.start_date,
                  coalesce(array_agg(s.id ORDER BY s.order_index)
                           FILTER (WHERE s.id IS NOT NULL), '{}') AS sessions
           FROM programs p LEFT JOIN sessions s ON s.program_id = p.id GROUP BY p.id"""
    )
    return {
        str(r["id"]): {
            "name": r["name"],
            "weeks": r["weeks"],
            "weekLabels": r["week_labels"],
            "sessionIds": [str(s) for s in r["sessions"]],
            "source": None
            if r["source_program_id"] is None
            else {
                "programId": str(r["source_program_id"]),
                "programVersion": r["source_program_version"],
            },
            "athlete": r["athlete"],
            "startDate": None if r["start_date"] is None else r["start_date"].isoformat(),
        }
        for r in rows
    }


def derived_fields(event: dict[str, Any]) -> dict[str, Any]:
    """What a `prescription.updated` derives from its program besides the series: each set's
    `resolvedLoad` (from a percent of 1RM or from effort), `warmupSets` and `scheduledDate`."""
    return {
        "resolvedLoad": [item["resolvedLoad"] for item in event["series"]],
        "warmupSets": event["warmupSets"],
        "scheduledDate": event["scheduledDate"],
    }


def derived_from_row(row: Any) -> dict[str, Any]:
    """`derived_fields` computed by the domain from a prescription's row as `_assert_matches`
    selects it: its series, its exercise's warm-up, its program's athlete and start date, its
    session's day and reschedulings."""
    athlete = (
        None if row["athlete"] is None else Athlete.model_validate(row["athlete"], strict=False)
    )
    warmup = None if row["warmup"] is None else Warmup.model_validate(row["warmup"], strict=False)
    exercise = ProgramExercise(row["program_exercise_id"], row["exercise_id"], "", warmup=warmup)
    resolved, warmups = loads_of(resolution_of(athlete), exercise, row["series"])
    moved = {m["week"]: date.fromisoformat(m["date"]) for m in row["rescheduled"]}
    day = scheduled_date(row["start_date"], row["week"], row["day_offset"], moved)
    return {
        "resolvedLoad": [load_on_the_wire(load) for load in resolved],
        "warmupSets": [{"reps": w.reps, "load": load_on_the_wire(w.load)} for w in warmups],
        "scheduledDate": None if day is None else day.isoformat(),
    }


def load_on_the_wire(load: ResolvedLoad | None) -> dict[str, Any] | None:
    """A resolved load as events carry it: a number of at most two decimals and its unit."""
    return None if load is None else {"value": float(load.value), "unit": load.unit}


FIELDS_OF_A_PRESCRIPTION = (
    "programExerciseId",
    "sessionId",
    "exerciseId",
    "week",
    "version",
    "series",
    "group",
)


async def database_sessions(pool: asyncpg.Pool | asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """Every session in the database with its groups in order and their members in order."""
    sessions = {
        str(r["id"]): {"name": r["name"], "orderIndex": r["order_index"], "groups": []}
        for r in await pool.fetch("SELECT id, name, order_index FROM sessions")
    }
    groups = await pool.fetch(
        """SELECT g.session_id, g.id, g.rounds, g.rest_between_rounds_seconds, g.notes,
                  g.format, g.time_cap_seconds, g.interval_seconds, g.interval_rest_seconds,
                  array_agg(pe.id ORDER BY pe.order_within_group) AS members
           FROM exercise_groups g JOIN program_exercises pe ON pe.group_id = g.id
           GROUP BY g.id ORDER BY g.session_id, g.order_index"""
    )
    for g in groups:
        sessions[str(g["session_id"])]["groups"].append(
            {
                "groupId": str(g["id"]),
                "rounds": g["rounds"],
                "restBetweenRoundsSeconds": g["rest_between_rounds_seconds"],
                "notes": g["notes"],
                "format": g["format"],
                "timeCapSeconds": g["time_cap_seconds"],
                "intervalSeconds": g["interval_seconds"],
                "intervalRestSeconds": g["interval_rest_seconds"],
                "exercises": [str(m) for m in g["members"]],
            }
        )
    return sessions


def as_stored(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A published series as the database holds it: without the (output-only)
    `resolvedLoad` of each set."""
    return [{k: v for k, v in item.items() if k != "resolvedLoad"} for item in series]
