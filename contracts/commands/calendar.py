"""Commands that place a program on the athlete's calendar: its start date, the day of each
session, and one week's session moved to another date."""

from __future__ import annotations

from typing import Literal, Self
from uuid import UUID

from pydantic import model_validator

from contracts.base import WireModel, fail_at
from contracts.calendar import CalendarDate, DayOffset
from contracts.commands.common import CommandEnvelope, Week
from contracts.snapshots import Name


class ProgramScheduleBody(WireModel):
    """(v1.3) Sets (a date) or clears (null) the program's start date, the first day of week 0."""

    type: Literal["program.schedule"]
    start_date: CalendarDate | None


class ProgramSchedule(CommandEnvelope, ProgramScheduleBody, in_batch=True): ...


class SessionUpdateBody(WireModel):
    """(v1.3) Renames a session and/or sets the day of the week it falls on (`dayOffset` null
    clears it); absent keeps."""

    type: Literal["session.update"]
    session_id: UUID
    name: Name | None = None
    day_offset: DayOffset | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        given = self.model_fields_set & {"name", "day_offset"}
        if not given:
            raise ValueError("session.update needs name, dayOffset or both")
        if "name" in given and self.name is None:
            fail_at(("name",), "name cannot be cleared: leave it out to keep it", None)
        return self


class SessionUpdate(CommandEnvelope, SessionUpdateBody, in_batch=True): ...


class SessionRescheduleBody(WireModel):
    """(v1.3) Moves one week's session to `date` (null: back to its default day)."""

    type: Literal["session.reschedule"]
    session_id: UUID
    week: Week
    date: CalendarDate | None


class SessionReschedule(CommandEnvelope, SessionRescheduleBody, in_batch=True): ...
