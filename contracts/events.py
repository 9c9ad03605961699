"""Events the service publishes: `prescription.updated`, `session.updated` and (v1.1)
`program.updated`, each a full snapshot of its entity."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.athletes import Athlete
from contracts.base import WireModel
from contracts.calendar import CalendarDate, RescheduledWeek
from contracts.exercises import Alternative, Progression, Warmup, WarmupSet
from contracts.groups import GroupFormat
from contracts.series import PublishedSet


class GroupKind(StrEnum):
    STANDALONE = "standalone"
    SUPERSET = "superset"
    CIRCUIT = "circuit"

    @classmethod
    def of_size(cls, size: int) -> GroupKind:
        if size >= 3:
            return cls.CIRCUIT
        return cls.SUPERSET if size == 2 else cls.STANDALONE


class GroupPlacement(WireModel):
    """Where the prescription's exercise stands: its group, the group's kind and both positions."""

    group_id: UUID
    kind: GroupKind
    order_index: int
    order_within_group: int
    size: int


class PrescriptionUpdated(WireModel):
    """The current state of one prescription; `deleted` ones carry `group: null` and no series."""

    event_id: UUID
    type: Literal["prescription.updated"] = "prescription.updated"
    occurred_at: AwareDatetime
    tenant_id: str
    program_id: UUID
    session_id: UUID
    program_exercise_id: UUID
    prescription_id: UUID
    exercise_id: UUID
    week: int
    version: int
    program_version: int
    deleted: bool
    group: GroupPlacement | None
    series: list[PublishedSet]
    # v1.3: the date of its session in its week (null: none), and its warm-up sets
    scheduled_date: Annotated[str, Field(json_schema_extra={"format": "date"})] | None
    warmup_sets: list[WarmupSet]
    causation_id: UUID


class SessionExercise(WireModel):
    program_exercise_id: UUID
    exercise_id: UUID
    name: str
    order_within_group: int
    # v1.2: null, [] and null when unset
    notes: str | None
    alternatives: list[Alternative]
    progression: Progression | None
    warmup: Warmup | None  # v1.3: null when unset


class SessionGroup(WireModel):
    group_id: UUID
    order_index: int
    kind: GroupKind
    rounds: int | None
    rest_between_rounds_seconds: int | None
    notes: str | None
    format: GroupFormat
    time_cap_seconds: int | None
    interval_seconds: int | None
    interval_rest_seconds: int | None
    exercises: list[SessionExercise]


class SessionUpdated(WireModel):
    """The current structure of one session; a `deleted` one carries no groups."""

    event_id: UUID
    type: Literal["session.updated"] = "session.updated"
    occurred_at: AwareDatetime
    tenant_id: str
    program_id: UUID
    session_id: UUID
    program_version: int
    deleted: bool
    name: str
    order_index: int
    groups: list[SessionGroup]
    # v1.3: the day of every week it falls on (null: none) and the weeks moved, by week
    day_offset: int | None
    rescheduled: list[RescheduledWeek]
    # v1.3: the session of the source program it was copied from (null: none), and whether the
    # copy changed it since (false when it has no origin)
    source_session_id: UUID | None
    customised: bool
    causation_id: UUID


class WeekLabel(WireModel):
    """A name for one week of the program (`deload`, `test`)."""

    week: int
    label: str


class ProgramSource(WireModel):
    """The program (and its version) that a `program.copy` made this program from."""

    program_id: UUID
    program_version: int


class ProgramUpdated(WireModel):
    """The current state of one program (v1.1); a `deleted` one is announced once like this.

    `sessionIds` lists the sessions in order; `weekLabels` is ordered by week; `source` is null
    unless the program is a copy.
    """

    event_id: UUID
    type: Literal["program.updated"] = "program.updated"
    occurred_at: AwareDatetime
    tenant_id: str
    program_id: UUID
    program_version: int
    deleted: bool
    name: str
    weeks: int
    week_labels: list[WeekLabel]
    session_ids: list[UUID]
    source: ProgramSource | None
    athlete: Athlete | None  # v1.2: null for a template
    # v1.3: the first day of week 0, YYYY-MM-DD (null: not scheduled)
    start_date: CalendarDate | None
    causation_id: UUID
