"""The calendar and effort examples of `contracts/examples.json` are what the domain computes:
the coach's story of an athlete's squat day (a start date, a weekday, one week moved, a top set
prescribed by RPE with its warm-ups) applied command by command, and the events it publishes
compared with the examples field for field.
`python -m tests.unit.contracts.test_examples_calendar_and_effort` rewrites them."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from contracts import generate
from contracts.commands import Command
from service.apply.wire import event_payload
from tests.support.domain import Programs

EXAMPLES_FILE = Path(generate.__file__).parent / "examples.json"
COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
OCCURRED = datetime(2026, 11, 24, 9, 0, 1, tzinfo=UTC)

PROGRAM = "5a170000-0000-4000-8000-000000000006"
SESSION = "5a170000-0000-4000-8000-00000000000f"
SQUAT_DAY = "5a170000-0000-4000-8000-00000000001b"
SQUAT = "5a170000-0000-4000-8000-000000000064"


def _command(number: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "commandId": f"5a170000-0000-4000-8000-0000000006{number:02x}",
        "type": kind,
        "tenantId": "coach-acme",
        "issuedAt": "2026-11-24T09:00:00Z",
        "programId": PROGRAM,
        **fields,
    }


# (name in examples.json or None for a step of the story without an example, the command)
STORY: list[tuple[str | None, dict[str, Any]]] = [
    (None, _command(1, "program.create", name="Strength block (Jo)", weeks=4)),
    (
        None,
        _command(
            2,
            "program.assign",
            athlete={
                "athleteId": "athlete-jo-lindqvist",
                "maxes": [{"exerciseId": SQUAT, "value": 200, "unit": "kg"}],
            },
        ),
    ),
    (
        "session.add (on a weekday)",
        _command(3, "session.add", sessionId=SESSION, name="Squat day", dayOffset=0),
    ),
    (
        "exercise.add (RPE top set with warm-ups)",
        _command(
            4,
            "exercise.add",
            sessionId=SESSION,
            programExerciseId=SQUAT_DAY,
            exerciseId=SQUAT,
            name="Back squat",
            warmup={
                "steps": [
                    {"percent": 40, "reps": 5},
                    {"percent": 60, "reps": 3},
                    {"percent": 80, "reps": 1},
                ],
                "minLoad": {"value": 20, "unit": "kg"},
            },
            series=[
                {"reps": 3, "rpe": 8, "restSeconds": 240},
                {"reps": 5, "rir": 2, "restSeconds": 180},
                {"reps": 5, "rir": 2, "restSeconds": 180},
            ],
        ),
    ),
    ("program.schedule", _command(5, "program.schedule", startDate="2027-01-04")),
    ("session.update", _command(6, "session.update", sessionId=SESSION, dayOffset=2)),
    (
        "session.reschedule",
        _command(7, "session.reschedule", sessionId=SESSION, week=0, date="2027-01-07"),
    ),
    (
        "exercise.update (warm-up)",
        _command(
            8,
            "exercise.update",
            programExerciseId=SQUAT_DAY,
            warmup={
                "steps": [
                    {"percent": 50, "reps": 5},
                    {"percent": 70, "reps": 3},
                    {"percent": 85, "reps": 1},
                    {"percent": 92.5, "reps": 1},
                ],
                "minLoad": {"value": 45, "unit": "lb"},
            },
        ),
    ),
]

# (name in examples.json, the story's step whose event it is, the event's type)
EVENTS = [
    ("program.updated (scheduled)", "program.schedule", "program.updated"),
    (
        "prescription.updated (from effort, with warm-ups, on the calendar)",
        "session.reschedule",
        "prescription.updated",
    ),
    ("session.updated (on the calendar)", "session.reschedule", "session.updated"),
    (
        "prescription.updated (new warm-up)",
        "exercise.update (warm-up)",
        "prescription.updated",
    ),
]


def told() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The story's example commands and the example events the domain publishes for them."""
    programs = Programs(tenant_id="coach-acme", now=OCCURRED)
    commands: dict[str, dict[str, Any]] = {}
    published: dict[str, list[dict[str, Any]]] = {}
    for name, document in STORY:
        applied = programs.apply(COMMANDS.validate_json(json.dumps(document)))
        if name is not None:
            commands[name] = document
            published[name] = [json.loads(json.dumps(event_payload(e))) for e in applied.events]
    events = {}
    for name, step, kind in EVENTS:
        (event,) = [e for e in published[step] if e["type"] == kind]
        events[name] = event
    return commands, events


def test_the_story_publishes_what_the_examples_show() -> None:
    examples = json.loads(EXAMPLES_FILE.read_text())
    commands, events = told()
    for name, command in commands.items():
        assert examples["commands"].get(name) == command, name
    for name, event in events.items():
        assert examples["events"].get(name) == event, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # 3 reps at RPE 8 of a 200 kg max: 86.3 % -> 172.6 -> 172.5 on 2.5 kg plates; 5 reps at
        # RIR 2: 81.1 % -> 162.2 -> 162.5. Warm-ups of 172.5: 69 -> 70, 103.5 -> 102.5,
        # 138 -> 137.5. Week 0 rescheduled to Thursday 2027-01-07.
        (
            "prescription.updated (from effort, with warm-ups, on the calendar)",
            (
                [172.5, 162.5, 162.5],
                [(5, 70), (3, 102.5), (1, 137.5)],
                "2027-01-07",
            ),
        ),
        # 50 % 86.25 -> 87.5, 70 % 120.75 -> 120, 85 % 146.625 -> 147.5, 92.5 % 159.5625 -> 160;
        # 45 lb is 20.41 kg, below all of them.
        (
            "prescription.updated (new warm-up)",
            (
                [172.5, 162.5, 162.5],
                [(5, 87.5), (3, 120), (1, 147.5), (1, 160)],
                "2027-01-07",
            ),
        ),
    ],
)
def test_the_examples_hold_hand_computed_weights(
    name: str, expected: tuple[list[float], list[tuple[int, float]], str]
) -> None:
    event = json.loads(EXAMPLES_FILE.read_text())["events"][name]
    loads, warmups, day = expected
    assert [item["resolvedLoad"]["value"] for item in event["series"]] == loads
    assert [(w["reps"], w["load"]["value"]) for w in event["warmupSets"]] == warmups
    assert {w["load"]["unit"] for w in event["warmupSets"]} == {"kg"}
    assert event["scheduledDate"] == day


def rewrite() -> None:
    """Write the story's commands and events into examples.json (after a change of the story)."""
    examples = json.loads(EXAMPLES_FILE.read_text())
    commands, events = told()
    examples["commands"].update(commands)
    examples["events"].update(events)
    EXAMPLES_FILE.write_text(json.dumps(examples, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    rewrite()
    sys.exit(0)
