"""(v1.3) The calendar's wire types, as CONTRACT.md § "Calendar" states them: a date
`"YYYY-MM-DD"` from 2000-01-01 to 2099-12-31, a session's day of the week, and one week of a
session moved to another date."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema

from contracts.base import WireModel

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)
DAYS_PER_WEEK = 7

# `[0-9]`, not `\d`: `\d` also matches other scripts' digits ("٢٠٢٧"), which are not a date here.
_DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def parse_date(text: object) -> date | str:
    """The date `text` names, or why it is not a date the contract accepts: a string `YYYY-MM-DD`
    (zero padded) of a day that exists, from 2000-01-01 to 2099-12-31. Parsed by hand:
    `date.fromisoformat` also accepts `20270104` and week dates (`2027-W01-1`)."""
    if not isinstance(text, str):
        return f"a date is a string YYYY-MM-DD (2027-01-04), got {type(text).__name__}"
    matched = _DATE_PATTERN.fullmatch(text)
    if matched is None:
        return f"a date is written YYYY-MM-DD with zero padding (2027-01-04), got {text!r}"
    year, month, day = (int(part) for part in matched.groups())
    try:
        parsed = date(year, month, day)
    except ValueError:  # a day that does not exist: 2027-02-30, 2027-02-29, month 13
        return f"{text} is not a day of the calendar"
    if not FIRST_DATE <= parsed <= LAST_DATE:
        return f"a date is from {FIRST_DATE} to {LAST_DATE}, got {text}"
    return parsed


def valid_date(text: object) -> date | None:
    """The date `text` names, or None when `parse_date` says why it is not one."""
    parsed = parse_date(text)
    return parsed if isinstance(parsed, date) else None


def _calendar_date(value: Any) -> date:
    if isinstance(value, date) and FIRST_DATE <= value <= LAST_DATE:
        return value  # built in Python (tests, the domain), not read from the wire
    parsed = parse_date(value)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return parsed


CalendarDate = Annotated[
    date,
    PlainValidator(_calendar_date),
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "a day from 2000-01-01 to 2099-12-31, YYYY-MM-DD",
        }
    ),
]
"""A date of the contract: `YYYY-MM-DD`, a day that exists, 2000-01-01..2099-12-31."""

DayOffset = Annotated[int, Field(ge=0, le=DAYS_PER_WEEK - 1)]
"""The day of every week on which a session falls: 0 is the program's start date's weekday."""


class RescheduledWeek(WireModel):
    """One week of a session moved to another date (any date: a week may move to another
    week's days)."""

    week: Annotated[int, Field(ge=0, le=51)]
    date: CalendarDate
