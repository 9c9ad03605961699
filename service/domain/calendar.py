"""A program on the calendar: the date of a session in a week, the dates the contract accepts,
and how a session's reschedulings follow the weeks when weeks move, as CONTRACT.md § "Calendar"
states it.

A session's reschedulings are a mapping of week to date; they move exactly as week labels do in
`commands.weeks.week_insert`, `commands.weeks.week_remove` and `commands.programs.program_update`
(a shrink), so that a rescheduled week stays with the prescriptions of that week.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)

DAYS_PER_WEEK = 7

# `[0-9]`, not `\d`: `\d` also matches other scripts' digits ("٢٠٢٧"), which are not a date here.
_DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def valid_date(text: object) -> date | None:
    """The date `text` names, or None unless it is a string `YYYY-MM-DD` (zero padded) of a day
    that exists, from 2000-01-01 to 2099-12-31. Parsed by hand: `date.fromisoformat` also
    accepts `20270104` and week dates (`2027-W01-1`), which the contract does not."""
    if not isinstance(text, str):
        return None
    matched = _DATE_PATTERN.fullmatch(text)
    if matched is None:
        return None
    year, month, day = (int(part) for part in matched.groups())
    try:
        parsed = date(year, month, day)
    except ValueError:  # a day that does not exist: 2027-02-30, 2027-02-29, month 13
        return None
    return parsed if FIRST_DATE <= parsed <= LAST_DATE else None


def scheduled_date(
    start_date: date | None, week: int, day_offset: int | None, rescheduled: Mapping[int, date]
) -> date | None:
    """The date of a session in `week`: the date it was rescheduled to for that week, else
    `start_date + 7 x week + day_offset` days, else None (no start date or no day offset).

    A computed date past 2099-12-31 (a late start and many weeks) is given as it is: the range
    is the contract's rule for the dates a command sends, not for those it derives."""
    moved = rescheduled.get(week)
    if moved is not None:
        return moved
    if start_date is None or day_offset is None:
        return None
    return start_date + timedelta(days=DAYS_PER_WEEK * week + day_offset)


def after_week_insert(rescheduled: Mapping[int, date], at: int, count: int = 1) -> dict[int, date]:
    """The reschedulings after `week.insert` of `count` weeks at `at`: every week >= `at` moves
    up by `count`, the earlier ones stay."""
    return {week + count if week >= at else week: day for week, day in rescheduled.items()}


def after_week_remove(rescheduled: Mapping[int, date], removed: int) -> dict[int, date]:
    """The reschedulings after `week.remove` of week `removed`: its own rescheduling is dropped,
    every later week moves down by one."""
    return {
        week - 1 if week > removed else week: day
        for week, day in rescheduled.items()
        if week != removed
    }


def after_weeks_shrunk(rescheduled: Mapping[int, date], weeks: int) -> dict[int, date]:
    """The reschedulings after `program.update` leaves the program `weeks` weeks long: those of
    the dropped weeks (>= `weeks`) are dropped."""
    return {week: day for week, day in rescheduled.items() if week < weeks}
