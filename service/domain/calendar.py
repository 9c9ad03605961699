"""A program on the calendar: the date of a session in a week, and how a session's reschedulings
follow the weeks when weeks move, as CONTRACT.md § "Calendar" states it (the dates a command may
send are `contracts.calendar`'s).

A session's reschedulings are a mapping of week to date; they move exactly as week labels do in
`commands.weeks.week_insert`, `commands.weeks.week_remove` and `commands.programs.program_update`
(a shrink), so that a rescheduled week stays with the prescriptions of that week.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from contracts.calendar import DAYS_PER_WEEK


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
