"""The calendar rules (CONTRACT.md § "Calendar"): session dates, accepted dates, and how
reschedulings follow moving weeks (as week labels do)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from contracts.calendar import valid_date
from contracts.commands import Command
from service.domain.calendar import (
    after_week_insert,
    after_week_remove,
    after_weeks_shrunk,
    scheduled_date,
)
from service.domain.commands import Context, apply
from service.domain.model import Program

MONDAY = date(2027, 1, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-04", date(2027, 1, 4)),
        ("2000-01-01", date(2000, 1, 1)),
        ("2099-12-31", date(2099, 12, 31)),
        ("2028-02-29", date(2028, 2, 29)),  # a leap year
        ("2000-02-29", date(2000, 2, 29)),  # divisible by 400: a leap year
    ],
)
def test_valid_dates(text: str, expected: date) -> None:
    assert valid_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2027-02-30",
        "2027-02-29",  # not a leap year
        "2027-1-4",  # not zero padded
        "2027-01-4",
        "1999-12-31",  # before the range
        "2100-01-01",  # after it
        "2027-13-01",
        "2027-00-10",
        "2027-01-00",
        "20270104",  # `date.fromisoformat` takes these three; the contract does not
        "2027-W01-1",
        "2027-01-04T00:00:00",
        " 2027-01-04",
        "2027-01-04\n",
        "2027/01/04",
        "\u0662\u0660\u0662\u0667-\u0660\u0661-\u0660\u0664",  # Arabic-Indic digits
        "",
        None,
        20270104,
        date(2027, 1, 4),  # a date object is not a string
    ],
)
def test_invalid_dates(text: Any) -> None:
    assert valid_date(text) is None


def test_the_date_of_a_week_is_start_plus_weeks_and_offset() -> None:
    assert scheduled_date(MONDAY, 0, 0, {}) == MONDAY
    assert scheduled_date(MONDAY, 2, 3, {}) == date(2027, 1, 21)
    assert scheduled_date(MONDAY, 0, 6, {}) == date(2027, 1, 10)


def test_over_a_leap_day() -> None:
    assert scheduled_date(date(2028, 2, 26), 0, 3, {}) == date(2028, 2, 29)
    assert scheduled_date(date(2027, 2, 26), 0, 3, {}) == date(2027, 3, 1)


def test_a_rescheduled_week_falls_on_its_date() -> None:
    rescheduled = {1: date(2027, 1, 13)}
    assert scheduled_date(MONDAY, 1, 0, rescheduled) == date(2027, 1, 13)
    # Only that week moves.
    assert scheduled_date(MONDAY, 0, 0, rescheduled) == MONDAY
    assert scheduled_date(MONDAY, 2, 0, rescheduled) == date(2027, 1, 18)


def test_a_week_may_move_into_another_weeks_days() -> None:
    assert scheduled_date(MONDAY, 1, 0, {1: date(2027, 1, 20)}) == date(2027, 1, 20)


def test_no_date_without_start_or_offset_unless_rescheduled() -> None:
    assert scheduled_date(MONDAY, 1, None, {}) is None
    assert scheduled_date(None, 1, 2, {}) is None
    assert scheduled_date(None, 1, None, {}) is None
    assert scheduled_date(None, 1, None, {1: date(2027, 2, 1)}) == date(2027, 2, 1)
    assert scheduled_date(MONDAY, 1, None, {1: date(2027, 2, 1)}) == date(2027, 2, 1)
    assert scheduled_date(None, 1, 3, {0: date(2027, 2, 1)}) is None


# --- reschedulings follow the weeks

D1 = date(2027, 1, 13)
D3 = date(2027, 1, 29)
RESCHEDULED = {1: D1, 3: D3}


@pytest.mark.parametrize(
    ("at", "count", "expected"),
    [
        (0, 1, {2: D1, 4: D3}),
        (1, 1, {2: D1, 4: D3}),  # inserted at a rescheduled week: it moves up
        (2, 1, {1: D1, 4: D3}),
        (3, 1, {1: D1, 4: D3}),
        (4, 1, RESCHEDULED),  # appended: nothing moves
        (2, 3, {1: D1, 6: D3}),
    ],
)
def test_week_insert(at: int, count: int, expected: dict[int, date]) -> None:
    assert after_week_insert(RESCHEDULED, at, count) == expected


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        (0, {0: D1, 2: D3}),
        (1, {2: D3}),  # its own rescheduling is dropped
        (2, {1: D1, 2: D3}),
        (3, {1: D1}),
        (4, RESCHEDULED),
    ],
)
def test_week_remove(removed: int, expected: dict[int, date]) -> None:
    assert after_week_remove(RESCHEDULED, removed) == expected


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [(5, RESCHEDULED), (4, RESCHEDULED), (3, {1: D1}), (2, {1: D1}), (1, {})],
)
def test_weeks_shrunk(weeks: int, expected: dict[int, date]) -> None:
    assert after_weeks_shrunk(RESCHEDULED, weeks) == expected


def test_the_given_reschedulings_are_left_as_they_were() -> None:
    given = dict(RESCHEDULED)
    after_week_insert(given, 0)
    after_week_remove(given, 1)
    after_weeks_shrunk(given, 1)
    assert given == RESCHEDULED


def test_a_rescheduled_week_keeps_its_date_when_a_week_is_inserted_before_it() -> None:
    rescheduled = after_week_insert({1: D1}, 0)
    assert scheduled_date(MONDAY, 2, 0, rescheduled) == D1
    assert scheduled_date(MONDAY, 1, 0, rescheduled) == date(2027, 1, 11)


COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
PROGRAM_ID = uuid.uuid4()


def run(program: Program | None, kind: str, **fields: Any) -> Program:
    document = {
        "commandId": str(uuid.uuid4()),
        "type": kind,
        "tenantId": "coach",
        "programId": str(PROGRAM_ID),
        **fields,
    }
    command = COMMANDS.validate_json(json.dumps(document))
    return apply(
        program, command, Context(datetime(2027, 1, 1, tzinfo=UTC), set().__contains__)
    ).program


@pytest.mark.parametrize(
    ("kind", "fields", "follow"),
    [
        ("week.insert", {"at": 0}, lambda r: after_week_insert(r, 0)),
        ("week.insert", {"at": 2, "count": 2}, lambda r: after_week_insert(r, 2, 2)),
        ("week.insert", {"at": 5}, lambda r: after_week_insert(r, 5)),
        ("week.remove", {"week": 0}, lambda r: after_week_remove(r, 0)),
        ("week.remove", {"week": 2}, lambda r: after_week_remove(r, 2)),
        ("week.remove", {"week": 4}, lambda r: after_week_remove(r, 4)),
        ("program.update", {"weeks": 3}, lambda r: after_weeks_shrunk(r, 3)),
    ],
)
def test_reschedulings_move_as_week_labels_do(
    kind: str, fields: dict[str, Any], follow: Any
) -> None:
    """The week operations of the domain move labels; the reschedulings must land on the same
    weeks (a label and a rescheduling on every week that has one)."""
    program = run(None, "program.create", name="Block", weeks=5)
    labelled = [0, 2, 4]
    program = run(
        program,
        "program.update",
        weekLabels=[{"week": week, "label": f"week {week}"} for week in labelled],
    )
    rescheduled = {week: date(2027, 1, 1 + week) for week in labelled}
    moved = run(program, kind, **fields)
    followed = follow(rescheduled)
    assert {
        week: date(2027, 1, 1 + int(label.split()[1])) for week, label in moved.week_labels.items()
    } == followed
