"""Commands that place a program on the athlete's calendar: its start date, the day of each
session, and one week's session moved to another date.

Each announces the prescriptions whose `scheduledDate` it changed (and nothing else of theirs
changes), so that a prescription's latest event always carries its date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from contracts import commands as c
from service.domain.commands import rules
from service.domain.commands.registry import Reads, Step, handles, its_session, sessions
from service.domain.derived import date_of
from service.domain.model import Program, Session


def _dates(program: Program, session: Session) -> dict[tuple[UUID, int], date | None]:
    """The date of every prescription of `session`, by (program exercise, week)."""
    return {
        (exercise.id, week): date_of(program, session, week)
        for exercise in session.exercises()
        for week in program.prescriptions_of(exercise.id)
    }


def _announce_moved(
    program: Program,
    before: dict[tuple[UUID, int], date | None],
    after_of: Iterable[Session],
    step: Step,
) -> None:
    """Announce each prescription whose date differs from `before`."""
    for session in after_of:
        for key, day in _dates(program, session).items():
            if before.get(key) != day:
                step.changes.series_changed(*key)


def _on_a_weekday(program: Program, body: c.ProgramScheduleBody) -> Reads:
    """The sessions whose dates follow the start date: those with a day of the week."""
    return sessions(program, [s.id for s in program.sessions if s.day_offset is not None])


@handles(c.ProgramScheduleBody, reads=_on_a_weekday)
def program_schedule(program: Program, body: c.ProgramScheduleBody, step: Step) -> None:
    following = [session for session in program.sessions if session.day_offset is not None]
    before: dict[tuple[UUID, int], date | None] = {}
    for session in following:
        before |= _dates(program, session)
    program.start_date = body.start_date
    step.changes.program_row = True
    _announce_moved(program, before, following, step)


@handles(c.SessionUpdateBody, reads=its_session)
def session_update(program: Program, body: c.SessionUpdateBody, step: Step) -> None:
    _, session = program.session(body.session_id)
    given = body.model_fields_set
    before = _dates(program, session)
    step.changes.touch(program, session)
    if body.name is not None:
        session.name = body.name
    if "day_offset" in given:
        session.day_offset = body.day_offset
    _announce_moved(program, before, [session], step)
    if "name" in given:
        rules.customise(program, session.id, step.changes)


@handles(c.SessionRescheduleBody, reads=its_session)
def session_reschedule(program: Program, body: c.SessionRescheduleBody, step: Step) -> None:
    _, session = program.session(body.session_id)
    rules.check_week(program, body.week)
    before = _dates(program, session)
    step.changes.touch(program, session)
    moved = {week: day for week, day in session.rescheduled.items() if week != body.week}
    if body.date is not None:
        moved[body.week] = body.date
    session.rescheduled = moved  # replaced, not changed in place: events hold the old one
    _announce_moved(program, before, [session], step)
