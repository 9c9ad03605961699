"""The coach's session that `program-builder demo` tells, as data: each step is what it does for
the coach, the command's type, the program it is sent to and its fields.

In the fields, `"@name"` stands for an id the run makes fresh (the same name, the same id, in
every step) and `"#Name"` for the catalog id of that exercise (`uuid5(NAMESPACE_URL,
"catalog:Name")`, the same in every run); `story()` puts them in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

BLOCK, COPY, LEGACY = "@program", "@copy", "@legacy"
"""The programs the story sends commands to: the strength block, Sam's copy, a legacy import."""


def exercise(name: str, key: str, session: str = "@day1", **more: Any) -> dict[str, Any]:
    """The fields of an `exercise.add` of the catalog exercise `name`."""
    return {
        "sessionId": session,
        "programExerciseId": key,
        "exerciseId": f"#{name}",
        "name": name,
        **more,
    }


def _legacy(name: str, key: str, order: int, superset: int | None, **row: Any) -> dict[str, Any]:
    """An exercise of the pre-refactor shape, with one split prescription row when given."""
    return {
        "programExerciseId": key,
        "exerciseId": f"#{name}",
        "name": name,
        "orderIndex": order,
        "supersetGroup": superset,
        "supersetOrder": order,
        "prescriptionRows": [row] if row else [],
    }


WARMUP_SET = {"setType": "warmup", "reps": 5, "load": {"value": 60, "unit": "kg"}}
CLUSTER = {
    "setType": "cluster",
    "reps": 2,
    "load": {"value": 85, "unit": "percent1rm"},
    "restSeconds": 20,
}
SQUAT_SETS = [WARMUP_SET, CLUSTER, CLUSTER, {**CLUSTER, "restSeconds": 180}]
RDL_SET = {"rir": 2, "tempo": "31X0", "restSeconds": 90}
REP_RANGES = [(10, 12), (8, 10), (6, 8), (4, 6)]
SAM = {
    "athleteId": "athlete-sam",
    "maxes": [{"exerciseId": "#Back squat", "value": 140, "unit": "kg"}],
    "trainingMaxPercent": 90,
}
TOP_SINGLE = {
    "series": [
        {"reps": 1, "rpe": 8, "restSeconds": 300},
        {"reps": 3, "rir": 2, "restSeconds": 180},
        {"reps": 3, "rir": 2, "restSeconds": 180},
    ],
    "warmup": {
        "steps": [
            {"percent": 40, "reps": 5},
            {"percent": 60, "reps": 3},
            {"percent": 75, "reps": 2},
            {"percent": 85, "reps": 1},
        ],
        "minLoad": {"value": 20, "unit": "kg"},
    },
}
LEGACY_PROGRAM = {
    "format": "legacy",
    "name": "Old hypertrophy block",
    "weeks": 1,
    "sessions": [
        {
            "sessionId": "@old-day",
            "name": "Push/pull",
            "exercises": [
                _legacy("Overhead press", "@old-press", 0, None, sets=3, reps=8, weight=50, rpe=8),
                _legacy("Cable row", "@old-row", 1, 1, sets=3, reps=12, restSeconds=60),
                _legacy("Hammer curl", "@old-curl", 2, 1, sets=2, reps=15),
            ],
        }
    ],
}

STORY: list[tuple[str, str, str, dict[str, Any]]] = [
    ("a 4-week strength block", "program.create", BLOCK, {"name": "Strength block", "weeks": 4}),
    ("day 1", "session.add", BLOCK, {"sessionId": "@day1", "name": "Day 1 — lower"}),
    ("day 2", "session.add", BLOCK, {"sessionId": "@day2", "name": "Day 2 — upper"}),
    (
        "back squat with cluster sets",
        "exercise.add",
        BLOCK,
        exercise("Back squat", "@squat", series=SQUAT_SETS),
    ),
    (
        "Romanian deadlift",
        "exercise.add",
        BLOCK,
        exercise("Romanian deadlift", "@rdl", newGroupId="@superset"),
    ),
    (
        "+ walking lunge: a superset",
        "exercise.add",
        BLOCK,
        exercise("Walking lunge", "@lunge", groupId="@superset"),
    ),
    ("bench press", "exercise.add", BLOCK, exercise("Bench press", "@bench", "@day2")),
    ("pull-up", "exercise.add", BLOCK, exercise("Pull-up", "@pullup", "@day2")),
    ("dip", "exercise.add", BLOCK, exercise("Dip", "@dip", "@day2")),
    (
        "pull-up + dip + bench: a circuit",
        "exercises.group",
        BLOCK,
        {
            "sessionId": "@day2",
            "programExerciseIds": ["@pullup", "@dip", "@bench"],
            "groupId": "@circuit",
        },
    ),
    (
        "circuit: 3 rounds, 2 min between",
        "group.update",
        BLOCK,
        {"groupId": "@circuit", "rounds": 3, "restBetweenRoundsSeconds": 120},
    ),
    *(
        (
            f"RDL week {week + 1}: {low}-{high} reps",
            "series.replace",
            BLOCK,
            {
                "programExerciseId": "@rdl",
                "week": week,
                "series": [{"repsMin": low, "repsMax": high, **RDL_SET}] * 3,
            },
        )
        for week, (low, high) in enumerate(REP_RANGES)
    ),
    (
        "top set for the squat",
        "series.update",
        BLOCK,
        {"programExerciseId": "@squat", "index": 3, "set": {"rpe": 9, "reps": 1}},
    ),
    (
        "bench leaves the circuit, first on day 2",
        "exercise.move",
        BLOCK,
        {"programExerciseId": "@bench", "toNewGroupAt": 0},
    ),
    (
        "lunge moves to day 2, last",
        "exercise.move",
        BLOCK,
        {"programExerciseId": "@lunge", "toSessionId": "@day2", "toNewGroupAt": 2},
    ),
    (
        "lunges are per leg",
        "series.replace",
        BLOCK,
        {
            "programExerciseId": "@lunge",
            "series": [{"reps": 10, "perSide": True, "restSeconds": 60}] * 3,
        },
    ),
    (
        "squat: +2.5 %1RM a week for weeks 2-4",
        "series.progress",
        BLOCK,
        {"programExerciseId": "@squat", "toWeeks": [1, 2, 3], "step": {"load": 2.5}},
    ),
    (
        "day 2 as it stands, copied to weeks 2-4",
        "week.copy",
        BLOCK,
        {"fromWeek": 0, "toWeeks": [1, 2, 3], "sessionId": "@day2"},
    ),
    (
        "week 4 is a deload",
        "program.update",
        BLOCK,
        {"weekLabels": [{"week": 3, "label": "deload"}]},
    ),
    (
        "deload: the squat's week 4 lighter",
        "series.replace",
        BLOCK,
        {
            "programExerciseId": "@squat",
            "week": 3,
            "series": [{"reps": 5, "load": {"value": 70, "unit": "percent1rm"}}] * 3,
        },
    ),
    (
        "the circuit becomes an EMOM",
        "group.update",
        BLOCK,
        {"groupId": "@circuit", "format": "emom", "intervalSeconds": 60, "rounds": 10},
    ),
    ("a week inserted before the deload (travel)", "week.insert", BLOCK, {"at": 3}),
    (
        "a copy of the block for Sam, with her maxes",
        "program.copy",
        BLOCK,
        {"newProgramId": COPY, "name": "Strength block — Sam", "athlete": SAM},
    ),
    (
        "Sam tests a new squat max: her loads follow",
        "maxes.set",
        COPY,
        {"maxes": [{"exerciseId": "#Back squat", "value": 150, "unit": "kg"}]},
    ),
    (
        "Sam's block goes on her calendar: week 1 starts Monday 4 January",
        "program.schedule",
        COPY,
        {"startDate": "2027-01-04"},
    ),
    (
        "a heavy day on Fridays",
        "session.add",
        COPY,
        {"sessionId": "@heavy", "name": "Heavy day", "dayOffset": 4},
    ),
    (
        "a top single at RPE 8 from her max, back-off triples, warm-ups worked out",
        "exercise.add",
        COPY,
        exercise("Back squat", "@single", "@heavy", **TOP_SINGLE),
    ),
    (
        "the single climbs half an RPE a week",
        "series.progress",
        COPY,
        {"programExerciseId": "@single", "toWeeks": [1, 2], "step": {"rpe": 0.5}},
    ),
    (
        "week 2's heavy day moves to Saturday (a wedding on Friday)",
        "session.reschedule",
        COPY,
        {"sessionId": "@heavy", "week": 1, "date": "2027-01-16"},
    ),
    # The template changes; Sam's copy previews the sync, takes it, and undoes it.
    (
        "the coach changes the block: the RDL's week 2 becomes 6-8 reps",
        "series.replace",
        BLOCK,
        {
            "programExerciseId": "@rdl",
            "week": 1,
            "series": [{"repsMin": 6, "repsMax": 8, **RDL_SET}] * 3,
        },
    ),
    (
        "preview: what syncing Sam's copy from week 2 would take",
        "program.sync",
        COPY,
        {"dryRun": True, "fromWeek": 1},
    ),
    ("sync Sam's copy from week 2 (week 1 is done)", "program.sync", COPY, {"fromWeek": 1}),
    ("undo that sync: Sam's copy as it was (version 7)", "program.revert", COPY, {"toVersion": 7}),
    ("import a legacy program", "program.import", LEGACY, {"program": LEGACY_PROGRAM}),
    ("and delete it again", "program.delete", LEGACY, {}),
]


@dataclass(frozen=True)
class Step:
    """One command of the story: what it does for the coach, its type, fields and program."""

    text: str
    type: str
    fields: dict[str, Any]
    program: str


def catalog(name: str) -> str:
    """The catalog id of an exercise, the same in every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"catalog:{name}"))


def story() -> list[Step]:
    """The story with its placeholders put in: ids fresh per run, catalog ids fixed."""
    ids: dict[str, str] = {}

    def put_in(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: put_in(item) for key, item in value.items()}
        if isinstance(value, list):
            return [put_in(item) for item in value]
        if isinstance(value, str) and value.startswith("@"):
            return ids.setdefault(value, str(uuid.uuid4()))
        if isinstance(value, str) and value.startswith("#"):
            return catalog(value[1:])
        return value

    return [
        Step(text, kind, put_in(fields), put_in(program)) for text, kind, program, fields in STORY
    ]
