"""The rules of dates, days, warm-ups and output-only fields that a command alone breaks: each a
`validation_failed` naming the field's path and saying what to send instead."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.parsing import accepted, refusal
from tests.unit.contracts.test_artifacts import EXAMPLES

SCHEDULE = EXAMPLES["commands"]["program.schedule"]
RESCHEDULE = EXAMPLES["commands"]["session.reschedule"]
SESSION_UPDATE = EXAMPLES["commands"]["session.update"]
SESSION_ADD = EXAMPLES["commands"]["session.add (on a weekday)"]
WARMUP_ADD = EXAMPLES["commands"]["exercise.add (RPE top set with warm-ups)"]
WARMUP_UPDATE = EXAMPLES["commands"]["exercise.update (warm-up)"]
EXPORTED = EXAMPLES["commands"]["program.import (v1, exported from the events)"]
REPLACE = EXAMPLES["commands"]["series.replace"]
BATCH = EXAMPLES["commands"]["batch"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2027-02-30", "2027-02-30 is not a day of the calendar"),
        ("2027-02-29", "2027-02-29 is not a day of the calendar"),
        ("2027-1-4", "a date is written YYYY-MM-DD with zero padding (2027-01-04), got '2027-1-4'"),
        ("20270104", "a date is written YYYY-MM-DD with zero padding (2027-01-04), got '20270104'"),
        ("2027-01-04T00:00:00Z", "a date is written YYYY-MM-DD"),
        ("1999-12-31", "a date is from 2000-01-01 to 2099-12-31, got 1999-12-31"),
        ("2100-01-01", "a date is from 2000-01-01 to 2099-12-31, got 2100-01-01"),
        (20270104, "a date is a string YYYY-MM-DD (2027-01-04), got int"),
    ],
)
def test_a_date_that_is_not_one(text: Any, reason: str) -> None:
    assert reason in refusal({**SCHEDULE, "startDate": text}, "startDate")
    assert reason in refusal({**RESCHEDULE, "date": text}, "date")


@pytest.mark.parametrize("text", ["2000-01-01", "2099-12-31", "2028-02-29", None])
def test_dates_at_the_bounds_and_null(text: str | None) -> None:
    accepted({**SCHEDULE, "startDate": text})
    accepted({**RESCHEDULE, "date": text})


def test_start_date_and_date_are_required_even_when_null() -> None:
    assert (
        "required"
        in refusal({k: v for k, v in SCHEDULE.items() if k != "startDate"}, "startDate").lower()
    )
    assert (
        "required" in refusal({k: v for k, v in RESCHEDULE.items() if k != "date"}, "date").lower()
    )


@pytest.mark.parametrize("day", [-1, 7, 1.5, "1", True])
def test_a_day_offset_outside_the_week(day: Any) -> None:
    refusal({**SESSION_ADD, "dayOffset": day}, "dayOffset")
    refusal({**SESSION_UPDATE, "dayOffset": day}, "dayOffset")


@pytest.mark.parametrize("day", [0, 6, None])
def test_day_offsets_of_the_week(day: int | None) -> None:
    accepted({**SESSION_ADD, "dayOffset": day})
    accepted({**SESSION_UPDATE, "dayOffset": day})


def test_session_update_needs_something_and_keeps_a_name() -> None:
    bare = {k: v for k, v in SESSION_UPDATE.items() if k not in ("dayOffset", "name")}
    assert "session.update needs name, dayOffset or both" in refusal(bare, "")
    assert "name cannot be cleared" in refusal({**bare, "name": None}, "name")
    assert accepted({**bare, "name": "Heavy day"}).command.model_fields_set >= {"name"}
    # null clears the day: given, and None
    cleared = accepted({**bare, "dayOffset": None}).command
    assert "day_offset" in cleared.model_fields_set


@pytest.mark.parametrize("week", [-1, 52, "0"])
def test_a_reschedule_week_outside_every_program(week: Any) -> None:
    refusal({**RESCHEDULE, "week": week}, "week")


def warmup(**fields: Any) -> dict[str, Any]:
    return {**WARMUP_UPDATE, "warmup": {**WARMUP_UPDATE["warmup"], **fields}}


def steps(*percents: float) -> list[dict[str, Any]]:
    return [{"percent": p, "reps": 3} for p in percents]


@pytest.mark.parametrize(
    ("fields", "path", "reason"),
    [
        (
            {"steps": steps(40, 60, 60)},
            "warmup.steps[2].percent",
            "percent must climb from step to step: 60 is not above the 60 of steps[1]",
        ),
        (
            {"steps": steps(60, 40)},
            "warmup.steps[1].percent",
            "percent must climb from step to step: 40 is not above the 60 of steps[0]",
        ),
        ({"steps": steps(*range(10, 91, 10))}, "warmup.steps", "at most 8"),
        ({"steps": []}, "warmup.steps", "at least 1"),
        ({"steps": steps(40, 62.25)}, "warmup.steps[1].percent", "at most one decimal"),
        ({"steps": steps(0.5)}, "warmup.steps[0].percent", "greater than or equal to 1"),
        ({"steps": steps(99.5)}, "warmup.steps[0].percent", "less than or equal to 99"),
        ({"steps": [{"percent": 40, "reps": 0}]}, "warmup.steps[0].reps", ""),
        ({"steps": [{"percent": 40, "reps": 21}]}, "warmup.steps[0].reps", ""),
        ({"minLoad": {"value": 1000.5, "unit": "kg"}}, "warmup.minLoad.value", ""),
        ({"minLoad": {"value": 20, "unit": "percent1rm"}}, "warmup.minLoad.unit", ""),
        ({"minLoad": {"value": 20}}, "warmup.minLoad.unit", ""),
    ],
)
def test_warmup_rules(fields: dict[str, Any], path: str, reason: str) -> None:
    assert reason in refusal(warmup(**fields), path)
    added = {**WARMUP_ADD, "warmup": {**WARMUP_ADD["warmup"], **fields}}
    assert reason in refusal(added, path)


@pytest.mark.parametrize(
    "fields",
    [
        {"steps": steps(*[10 + 10 * n for n in range(8)])},
        {"steps": steps(1, 99)},
        {"steps": steps(62.5, 77.5)},
        {"minLoad": None},
        {"minLoad": {"value": 0, "unit": "lb"}},
        {"minLoad": {"value": 1000, "unit": "kg"}},
    ],
)
def test_warmups_within_the_rules(fields: dict[str, Any]) -> None:
    accepted(warmup(**fields))


def test_exercise_update_clears_a_warmup_with_null() -> None:
    bare = {k: v for k, v in WARMUP_UPDATE.items() if k != "warmup"}
    command = accepted({**bare, "warmup": None}).command
    assert "warmup" in command.model_fields_set


def test_an_effort_off_the_chart_is_still_a_valid_set() -> None:
    """rpe 6 (below the chart's 6.5) with rir null is a valid set, only not resolved."""
    accepted({**REPLACE, "series": [{"reps": 5, "rpe": 6, "rir": None}]})
    accepted({**REPLACE, "series": [{"repsMin": 3, "repsMax": 5, "rpe": 8}]})


def test_the_new_operations_stand_in_a_batch() -> None:
    operations = [
        {
            k: v
            for k, v in command.items()
            if k not in ("commandId", "tenantId", "programId", "issuedAt")
        }
        for command in (SCHEDULE, SESSION_UPDATE, RESCHEDULE)
    ]
    accepted({**BATCH, "operations": operations})
    bad = copy.deepcopy(operations)
    bad[2]["date"] = "2027-02-30"
    assert "not a day of the calendar" in refusal(
        {**BATCH, "operations": bad}, "operations[2].date"
    )


# --- output-only fields: accepted in a program.import snapshot, nowhere else


def test_an_export_rebuilt_from_the_events_imports() -> None:
    command = accepted(EXPORTED).command
    session = command.program.sessions[0]
    assert session.day_offset == 2
    assert [(r.week, r.date.isoformat()) for r in session.rescheduled] == [(0, "2027-01-07")]
    written = command.program.sessions[0].groups[0].exercises[0].prescriptions[0]
    assert all("resolvedLoad" not in item.to_wire() for item in written.series)


@pytest.mark.parametrize(
    ("where", "name", "value"),
    [
        (("series", 0), "resolvedLoad", {"value": 100, "unit": "kg"}),
        ((), "warmupSets", []),
        ((), "scheduledDate", "2027-01-04"),
    ],
)
def test_output_only_fields_are_refused_outside_a_snapshot(
    where: tuple[Any, ...], name: str, value: Any
) -> None:
    document = copy.deepcopy(REPLACE)
    target = document
    for key in where:
        target = target[key]
    target[name] = value
    path = ".".join(
        part if isinstance(part, str) else f"[{part}]" for part in (*where, name)
    ).replace(".[", "[")
    assert refusal(document, path) == (
        f"{name} is computed and published by the service, not sent: leave it out (only "
        "program.import snapshots accept it, and ignore it)"
    )


def test_output_only_session_fields_are_refused_in_a_session_command() -> None:
    refusal({**SESSION_UPDATE, "customised": False}, "customised")
    refusal({**SESSION_ADD, "sourceSessionId": None}, "sourceSessionId")


def test_a_snapshot_reschedules_only_its_own_weeks() -> None:
    document = copy.deepcopy(EXPORTED)
    session = document["program"]["sessions"][0]
    session["rescheduled"] = [{"week": 4, "date": "2027-02-01"}]
    reason = refusal(document, "program.sessions[0].rescheduled[0].week")
    assert "below the program's weeks (4)" in reason
    session["rescheduled"] = [{"week": 1, "date": "2027-02-01"}, {"week": 1, "date": "2027-02-02"}]
    assert "rescheduled more than once" in refusal(
        document, "program.sessions[0].rescheduled[1].week"
    )
    session["rescheduled"] = [{"week": 1, "date": "2027-02-30"}]
    refusal(document, "program.sessions[0].rescheduled[0].date")
    document = copy.deepcopy(EXPORTED)
    document["program"]["startDate"] = "2027-1-4"
    refusal(document, "program.startDate")
