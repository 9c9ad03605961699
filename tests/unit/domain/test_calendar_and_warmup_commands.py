"""The calendar, warm-up and effort commands in the domain, and what each announces:
`program.schedule`, `session.update`, `session.reschedule`, `dayOffset`, warm-ups and
effort-based loads, judged on the events' wire form (the latest event of an entity is its
current state)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter

from contracts.commands import Command
from service.apply.wire import event_payload
from service.domain.errors import InvariantViolated, NotFound
from tests.support.domain import Programs

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
SQUAT = str(uuid.uuid4())
CLASSIC = {
    "steps": [{"percent": 40, "reps": 5}, {"percent": 60, "reps": 3}, {"percent": 80, "reps": 1}],
    "minLoad": {"value": 20, "unit": "kg"},
}


class Story:
    """One program, its commands applied in the domain, and the events of the last one."""

    def __init__(self, weeks: int = 4) -> None:
        self.programs = Programs(tenant_id="coach")
        self.program = str(uuid.uuid4())
        self.events: list[dict[str, Any]] = []
        self.run("program.create", name="Block", weeks=weeks)

    def run(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        document = {
            "commandId": str(uuid.uuid4()),
            "type": kind,
            "tenantId": "coach",
            "programId": self.program,
            **fields,
        }
        applied = self.programs.apply(COMMANDS.validate_json(json.dumps(document)))
        self.events = [json.loads(json.dumps(event_payload(e))) for e in applied.events]
        return self.events

    def session(self, day: int | None = None, name: str = "Day") -> str:
        session = str(uuid.uuid4())
        fields = {} if day is None else {"dayOffset": day}
        self.run("session.add", sessionId=session, name=name, **fields)
        return session

    def exercise(self, session: str, series: list[Any], **fields: Any) -> str:
        exercise = str(uuid.uuid4())
        self.run(
            "exercise.add",
            sessionId=session,
            programExerciseId=exercise,
            exerciseId=SQUAT,
            name="Back squat",
            series=series,
            **fields,
        )
        return exercise

    def write(self, exercise: str, week: int, series: list[Any]) -> None:
        self.run("series.replace", programExerciseId=exercise, week=week, series=series)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def dates(self) -> dict[tuple[str, int], str | None]:
        """(program exercise, week) -> scheduledDate of the prescriptions just announced."""
        return {
            (e["programExerciseId"], e["week"]): e["scheduledDate"]
            for e in self.of("prescription.updated")
        }


def test_schedule_dates_the_sessions_on_a_weekday_only() -> None:
    story = Story()
    monday, floating = story.session(day=0), story.session()
    on_monday = story.exercise(monday, [{"reps": 5}])
    story.exercise(floating, [{"reps": 5}])
    story.write(on_monday, 2, [{"reps": 3}])

    story.run("program.schedule", startDate="2027-01-04")
    (program,) = story.of("program.updated")
    assert program["startDate"] == "2027-01-04"
    assert story.dates() == {(on_monday, 0): "2027-01-04", (on_monday, 2): "2027-01-18"}

    story.run("program.schedule", startDate="2027-01-04")  # the same date: no date changes
    assert story.dates() == {}
    assert len(story.of("program.updated")) == 1

    story.run("program.schedule", startDate=None)
    assert story.of("program.updated")[0]["startDate"] is None
    assert story.dates() == {(on_monday, 0): None, (on_monday, 2): None}


def test_session_update_renames_and_moves_the_day() -> None:
    story = Story()
    session = story.session(day=0)
    exercise = story.exercise(session, [{"reps": 5}])

    story.run("session.update", sessionId=session, dayOffset=3)  # no start date: no dates move
    (updated,) = story.of("session.updated")
    assert updated["dayOffset"] == 3
    assert story.dates() == {}

    story.run("program.schedule", startDate="2027-01-04")
    assert story.dates() == {(exercise, 0): "2027-01-07"}

    story.run("session.update", sessionId=session, name="Heavy day")
    assert story.of("session.updated")[0]["name"] == "Heavy day"
    assert story.of("session.updated")[0]["dayOffset"] == 3, "absent keeps the day"
    assert story.dates() == {}

    story.run("session.update", sessionId=session, dayOffset=None)
    assert story.of("session.updated")[0]["dayOffset"] is None
    assert story.dates() == {(exercise, 0): None}


def test_reschedule_moves_one_week_of_one_session() -> None:
    story = Story()
    session, other = story.session(day=0), story.session(day=0)
    exercise = story.exercise(session, [{"reps": 5}])
    story.exercise(other, [{"reps": 5}])
    story.write(exercise, 1, [{"reps": 5}])
    story.run("program.schedule", startDate="2027-01-04")

    story.run("session.reschedule", sessionId=session, week=1, date="2027-01-13")
    (updated,) = story.of("session.updated")
    assert updated["rescheduled"] == [{"week": 1, "date": "2027-01-13"}]
    assert story.dates() == {(exercise, 1): "2027-01-13"}

    # Into another week's days, and back to the default with null.
    story.run("session.reschedule", sessionId=session, week=0, date="2027-01-20")
    assert story.of("session.updated")[0]["rescheduled"] == [
        {"week": 0, "date": "2027-01-20"},
        {"week": 1, "date": "2027-01-13"},
    ]
    story.run("session.reschedule", sessionId=session, week=1, date=None)
    assert story.of("session.updated")[0]["rescheduled"] == [{"week": 0, "date": "2027-01-20"}]
    assert story.dates() == {(exercise, 1): "2027-01-11"}

    # A week without a prescription moves the session only.
    story.run("session.reschedule", sessionId=session, week=3, date="2027-02-02")
    assert story.dates() == {}
    assert len(story.of("session.updated")) == 1


def test_a_rescheduled_session_without_a_start_date_has_that_date() -> None:
    story = Story()
    session = story.session()
    exercise = story.exercise(session, [{"reps": 5}])
    story.run("session.reschedule", sessionId=session, week=0, date="2027-03-01")
    assert story.dates() == {(exercise, 0): "2027-03-01"}


def test_reschedule_rejections_name_their_field() -> None:
    story = Story(weeks=2)
    session = story.session()
    with pytest.raises(InvariantViolated) as outside:
        story.run("session.reschedule", sessionId=session, week=2, date="2027-01-01")
    assert [d.path for d in outside.value.details] == ["week"]
    assert "week 2 is outside the program, which has 2 weeks (0..1)" in str(outside.value)
    with pytest.raises(NotFound) as missing:
        story.run("session.reschedule", sessionId=str(uuid.uuid4()), week=0, date=None)
    assert [d.path for d in missing.value.details] == ["sessionId"]
    with pytest.raises(NotFound):
        story.run("session.update", sessionId=str(uuid.uuid4()), name="x")


def test_week_operations_carry_the_reschedulings_with_their_weeks() -> None:
    story = Story(weeks=4)
    session = story.session(day=0)
    exercise = story.exercise(session, [{"reps": 5}])
    story.write(exercise, 2, [{"reps": 3}])
    story.run("program.schedule", startDate="2027-01-04")
    story.run("session.reschedule", sessionId=session, week=2, date="2027-01-21")

    story.run("week.insert", at=1)
    assert story.of("session.updated")[0]["rescheduled"] == [{"week": 3, "date": "2027-01-21"}]
    assert story.dates()[(exercise, 3)] == "2027-01-21", "the week's prescription keeps its date"

    story.run("week.remove", week=0)
    assert story.of("session.updated")[0]["rescheduled"] == [{"week": 2, "date": "2027-01-21"}]
    story.run("week.remove", week=2)
    assert story.of("session.updated")[0]["rescheduled"] == []

    story.run("session.reschedule", sessionId=session, week=2, date="2027-02-01")
    story.run("program.update", weeks=2)
    assert story.of("session.updated")[0]["rescheduled"] == []
    story.run("week.insert", at=2)  # nothing rescheduled moves: the session is not announced
    assert story.of("session.updated") == []


def test_copies_carry_the_calendar_as_the_contract_says() -> None:
    story = Story()
    session = story.session(day=4)
    story.exercise(session, [{"reps": 5, "load": {"value": 100, "unit": "kg"}}], warmup=CLASSIC)
    story.run("program.schedule", startDate="2027-01-04")
    story.run("session.reschedule", sessionId=session, week=0, date="2027-01-09")

    copy_id = str(uuid.uuid4())
    story.run("session.copy", sessionId=session, newSessionId=copy_id)
    (copied,) = [e for e in story.of("session.updated") if e["sessionId"] == copy_id]
    assert (copied["dayOffset"], copied["rescheduled"]) == (4, [])
    assert copied["groups"][0]["exercises"][0]["warmup"]["minLoad"] == {"value": 20, "unit": "kg"}
    assert {e["scheduledDate"] for e in story.of("prescription.updated")} == {"2027-01-08"}

    new_program = str(uuid.uuid4())
    story.run("program.copy", newProgramId=new_program)
    (program,) = story.of("program.updated")
    assert program["startDate"] == "2027-01-04"
    original = next(e for e in story.of("session.updated") if e["orderIndex"] == 0)
    assert (original["dayOffset"], original["rescheduled"]) == (
        4,
        [{"week": 0, "date": "2027-01-09"}],
    )
    dates = {e["scheduledDate"] for e in story.of("prescription.updated")}
    assert dates == {"2027-01-09", "2027-01-08"}
    assert all(len(e["warmupSets"]) == 3 for e in story.of("prescription.updated"))


def test_a_warmup_change_announces_the_prescriptions_whose_warmups_changed() -> None:
    story = Story()
    session = story.session()
    exercise = story.exercise(session, [{"reps": 5, "load": {"value": 100, "unit": "kg"}}])
    story.write(exercise, 1, [{"reps": 10, "load": {"value": 0, "unit": "bodyweight"}}])
    story.write(exercise, 2, [{"reps": 5, "load": {"value": 30, "unit": "kg"}}])

    story.run("exercise.update", programExerciseId=exercise, warmup=CLASSIC)
    warmups = {e["week"]: e["warmupSets"] for e in story.of("prescription.updated")}
    # Week 1 has no weight to warm up to: no warm-ups before or after, not announced.
    assert warmups == {
        0: [
            {"reps": 5, "load": {"value": 40.0, "unit": "kg"}},
            {"reps": 3, "load": {"value": 60.0, "unit": "kg"}},
            {"reps": 1, "load": {"value": 80.0, "unit": "kg"}},
        ],
        2: [
            {"reps": 5, "load": {"value": 20.0, "unit": "kg"}},
            {"reps": 1, "load": {"value": 25.0, "unit": "kg"}},
        ],
    }
    assert story.of("session.updated")[0]["groups"][0]["exercises"][0]["warmup"] == {
        "steps": [
            {"percent": 40.0, "reps": 5},
            {"percent": 60.0, "reps": 3},
            {"percent": 80.0, "reps": 1},
        ],
        "minLoad": {"value": 20.0, "unit": "kg"},
    }

    # A heavier empty bar changes week 2 only (30 kg: 25 -> the bar 25 is not above 25).
    story.run(
        "exercise.update",
        programExerciseId=exercise,
        warmup={**CLASSIC, "minLoad": {"value": 25, "unit": "kg"}},
    )
    assert {e["week"]: e["warmupSets"] for e in story.of("prescription.updated")} == {
        2: [{"reps": 5, "load": {"value": 25.0, "unit": "kg"}}],
    }

    story.run("exercise.update", programExerciseId=exercise, warmup=None)
    assert {e["week"] for e in story.of("prescription.updated")} == {0, 2}
    assert all(e["warmupSets"] == [] for e in story.of("prescription.updated"))


def test_a_new_plate_increment_announces_the_warmups_it_moves() -> None:
    story = Story()
    session = story.session()
    heavy = story.exercise(
        session, [{"reps": 5, "load": {"value": 101, "unit": "kg"}}], warmup=CLASSIC
    )
    story.exercise(session, [{"reps": 5, "load": {"value": 100, "unit": "kg"}}])  # no warm-up

    # 1 kg plates: 40.4 -> 40, 60.6 -> 61, 80.8 -> 81 (2.5 kg plates gave 40, 60, 80).
    story.run("program.assign", athlete={"athleteId": "jo", "rounding": {"kg": 1}})
    (announced,) = story.of("prescription.updated")
    assert announced["programExerciseId"] == heavy
    assert [w["load"]["value"] for w in announced["warmupSets"]] == [40.0, 61.0, 81.0]


def test_effort_sets_resolve_from_the_max_and_follow_it() -> None:
    story = Story()
    session = story.session()
    exercise = story.exercise(
        session,
        [
            {"reps": 3, "rpe": 8},  # i 8: 86.3 %
            {"reps": 5, "rir": 2},  # i 12: 81.1 %
            {"reps": 5, "rpe": 6, "rir": None},  # off the chart: valid, not resolved
            {"repsMin": 3, "repsMax": 5, "rpe": 8},  # a range: not resolved
            {"reps": 12, "rpe": 6.5},  # i 29: 58.6 %
            {"reps": 3, "rpe": 8, "load": {"value": 60, "unit": "kg"}},  # its own load
        ],
    )
    story.run(
        "program.assign",
        athlete={"athleteId": "jo", "maxes": [{"exerciseId": SQUAT, "value": 200, "unit": "kg"}]},
    )
    (event,) = story.of("prescription.updated")
    assert [s["resolvedLoad"] and s["resolvedLoad"]["value"] for s in event["series"]] == [
        172.5,  # 172.6
        162.5,  # 162.2
        None,
        None,
        117.5,  # 117.2
        None,
    ]
    story.run("maxes.set", maxes=[{"exerciseId": SQUAT, "value": 405, "unit": "lb"}])
    (event,) = story.of("prescription.updated")
    # 405 lb at 86.3 % = 349.515 -> 350 lb on 5 lb plates
    assert event["series"][0]["resolvedLoad"] == {"value": 350.0, "unit": "lb"}
    assert event["programExerciseId"] == exercise


def test_an_effort_top_set_is_the_warmups_reference() -> None:
    story = Story()
    session = story.session()
    story.run(
        "program.assign",
        athlete={"athleteId": "jo", "maxes": [{"exerciseId": SQUAT, "value": 200, "unit": "kg"}]},
    )
    story.exercise(
        session,
        [
            {"setType": "warmup", "reps": 5, "load": {"value": 60, "unit": "kg"}},
            {"reps": 3, "rpe": 8},
        ],
        warmup=CLASSIC,
    )
    (event,) = story.of("prescription.updated")
    # The reference is 172.5 (the first non-warm-up set, resolved from effort): 69 -> 70,
    # 103.5 -> 102.5, 138 -> 137.5.
    assert [w["load"]["value"] for w in event["warmupSets"]] == [70.0, 102.5, 137.5]


def test_a_template_warms_up_on_default_plates_in_the_sets_unit() -> None:
    story = Story()
    session = story.session()
    story.exercise(
        session,
        [{"reps": 5, "load": {"value": 225, "unit": "lb"}}],
        warmup={**CLASSIC, "minLoad": {"value": 20, "unit": "kg"}},
    )
    (event,) = story.of("prescription.updated")
    # 90 -> 90, 135 -> 135, 180 -> 180 lb; 20 kg is 44.09 lb, below them all.
    assert event["warmupSets"] == [
        {"reps": 5, "load": {"value": 90.0, "unit": "lb"}},
        {"reps": 3, "load": {"value": 135.0, "unit": "lb"}},
        {"reps": 1, "load": {"value": 180.0, "unit": "lb"}},
    ]


def test_an_import_recomputes_what_an_export_carried() -> None:
    from tests.unit.contracts.test_artifacts import EXAMPLES

    story = Story()
    exported = dict(EXAMPLES["commands"]["program.import (v1, exported from the events)"])
    exported["program"] = json.loads(json.dumps(exported["program"]))
    # What the export carried is ignored: a stale scheduledDate and resolved load are recomputed.
    prescription = exported["program"]["sessions"][0]["groups"][0]["exercises"][0]["prescriptions"][
        0
    ]
    prescription["scheduledDate"] = "2030-01-01"
    prescription["series"][0]["resolvedLoad"] = {"value": 1, "unit": "lb"}
    story.program = exported["programId"]
    fields = {
        k: v
        for k, v in exported.items()
        if k not in ("commandId", "tenantId", "programId", "type", "issuedAt")
    }
    story.run("program.import", **fields)
    (event,) = story.of("prescription.updated")
    assert event["scheduledDate"] == "2027-01-07"
    assert event["series"][0]["resolvedLoad"] == {"value": 172.5, "unit": "kg"}
    assert [w["load"]["value"] for w in event["warmupSets"]] == [70.0, 102.5, 137.5]
    (session,) = story.of("session.updated")
    assert (session["dayOffset"], session["rescheduled"]) == (
        2,
        [{"week": 0, "date": "2027-01-07"}],
    )
    assert story.of("program.updated")[0]["startDate"] == "2027-01-04"
