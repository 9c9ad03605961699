"""Program snapshots that `program.import` takes: the v1 shape and the pre-refactor legacy shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, Discriminator, Field, StringConstraints, Tag, model_validator

from contracts.athletes import Athlete
from contracts.base import Location, WireModel, fail_at
from contracts.calendar import CalendarDate, DayOffset, RescheduledWeek
from contracts.exercises import (
    Alternatives,
    ExerciseNotes,
    Progression,
    Warmup,
    WarmupSet,
    check_alternatives,
)
from contracts.groups import GroupSettingsInput
from contracts.series import (
    MAX_SETS_PER_SERIES,
    PrescriptionSeriesData,
    ResolvedLoad,
    check_order_indexes,
)

_MAX_WEEKS = 52
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""Every name of the contract (program, session, exercise): 1..200 characters."""
Week = Annotated[int, Field(ge=0, le=_MAX_WEEKS - 1)]


def _first_repeat(items: list[tuple[Location, Any]]) -> tuple[Location, Any] | None:
    """The first (location, value) whose value already appeared earlier in `items`."""
    seen: set[Any] = set()
    for location, value in items:
        if value in seen:
            return location, value
        seen.add(value)
    return None


def _refuse_week_outside(location: Location, week: int, weeks: int) -> None:
    """A week of the snapshot (a prescription's, a row's, a rescheduling's) must be one of its
    weeks."""
    if week >= weeks:
        fail_at(location, f"week must be below the program's weeks ({weeks})", week)


def _refuse_repeated_ids(ids: list[tuple[Location, Any]]) -> None:
    repeat = _first_repeat(ids)
    if repeat:
        fail_at(repeat[0], f"id {repeat[1]} is used more than once in the snapshot", str(repeat[1]))


# --- v1 shape (what a consumer rebuilds from the events)

MAX_WEEK_LABEL_LENGTH = 40


class WeekLabelInput(WireModel):
    """A name for one week (`deload`, `test`); weeks are 0-based."""

    week: Week
    label: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WEEK_LABEL_LENGTH)]


OUTPUT_ONLY_FIELDS = frozenset(
    {"resolvedLoad", "warmupSets", "scheduledDate", "sourceSessionId", "customised"}
)
"""(v1.3) What the events carry that the service computes: accepted in a `program.import`
snapshot (and ignored), refused in every other command."""

# (v1.3) The output-only fields of the events, accepted in a snapshot and ignored (the service
# computes them again), so that a program rebuilt from its events imports as it is. Typed as the
# events publish them; `exclude` keeps them out of everything the service writes.


class SnapshotSet(PrescriptionSeriesData):
    """A set of a snapshot: a set, or one as `prescription.updated` carries it."""

    resolved_load: ResolvedLoad | None = Field(
        default=None, exclude=True, description="output only: accepted and ignored"
    )


SnapshotSeries = Annotated[
    list[SnapshotSet],
    Field(max_length=MAX_SETS_PER_SERIES),
    AfterValidator(check_order_indexes),
]


class PrescriptionSnapshot(WireModel):
    week: Week = 0
    series: SnapshotSeries = Field(default_factory=list)
    # v1.3, output only
    scheduled_date: str | None = Field(
        default=None, exclude=True, description="output only: accepted and ignored"
    )
    warmup_sets: list[WarmupSet] | None = Field(
        default=None, exclude=True, description="output only: accepted and ignored"
    )


class ExerciseSnapshot(WireModel):
    program_exercise_id: UUID
    exercise_id: UUID
    name: Name
    prescriptions: list[PrescriptionSnapshot] = Field(default_factory=list, max_length=_MAX_WEEKS)
    # v1.2
    notes: ExerciseNotes | None = None
    alternatives: Alternatives = Field(default_factory=list)
    progression: Progression | None = None
    warmup: Warmup | None = None  # v1.3

    @model_validator(mode="after")
    def _one_per_week(self) -> Self:
        check_alternatives(self.alternatives, self.exercise_id, "alternatives")
        repeat = _first_repeat(
            [(("prescriptions", i, "week"), p.week) for i, p in enumerate(self.prescriptions)]
        )
        if repeat:
            fail_at(repeat[0], f"a second prescription for week {repeat[1]}", repeat[1])
        return self


class GroupSnapshot(GroupSettingsInput):
    group_id: UUID
    exercises: Annotated[list[ExerciseSnapshot], Field(min_length=1, max_length=12)]


class SessionSnapshot(WireModel):
    session_id: UUID
    name: Name
    groups: Annotated[list[GroupSnapshot], Field(max_length=60)] = Field(default_factory=list)
    # v1.3
    day_offset: DayOffset | None = None
    rescheduled: Annotated[list[RescheduledWeek], Field(max_length=_MAX_WEEKS)] = Field(
        default_factory=list
    )
    source_session_id: UUID | None = Field(
        default=None, exclude=True, description="output only: accepted and ignored"
    )
    customised: bool | None = Field(
        default=None, exclude=True, description="output only: accepted and ignored"
    )

    @model_validator(mode="after")
    def _one_date_per_week(self) -> Self:
        repeat = _first_repeat(
            [(("rescheduled", i, "week"), r.week) for i, r in enumerate(self.rescheduled)]
        )
        if repeat:
            fail_at(repeat[0], f"week {repeat[1]} is rescheduled more than once", repeat[1])
        return self


class ProgramSnapshotV1(WireModel):
    format: Literal["v1"] = "v1"
    name: Name
    weeks: Annotated[int, Field(ge=1, le=_MAX_WEEKS)] = 1
    sessions: Annotated[list[SessionSnapshot], Field(max_length=50)] = Field(default_factory=list)
    week_labels: Annotated[list[WeekLabelInput], Field(max_length=_MAX_WEEKS)] = Field(
        default_factory=list
    )
    athlete: Athlete | None = None  # v1.2: null (absent) imports a template
    start_date: CalendarDate | None = None  # v1.3

    @model_validator(mode="after")
    def _ids_and_weeks(self) -> Self:
        seen_weeks: set[int] = set()
        for at, label in enumerate(self.week_labels):
            if label.week >= self.weeks or label.week in seen_weeks:
                reason = (
                    f"week must be below the program's weeks ({self.weeks})"
                    if label.week >= self.weeks
                    else f"week {label.week} is labelled more than once"
                )
                fail_at(("weekLabels", at, "week"), reason, label.week)
            seen_weeks.add(label.week)
        ids: list[tuple[Location, Any]] = []
        for s, session in enumerate(self.sessions):
            at_session: Location = ("sessions", s)
            ids.append(((*at_session, "sessionId"), session.session_id))
            for r, rescheduled in enumerate(session.rescheduled):
                at_week: Location = (*at_session, "rescheduled", r, "week")
                _refuse_week_outside(at_week, rescheduled.week, self.weeks)
            for g, group in enumerate(session.groups):
                at_group: Location = (*at_session, "groups", g)
                ids.append(((*at_group, "groupId"), group.group_id))
                for e, exercise in enumerate(group.exercises):
                    at_exercise: Location = (*at_group, "exercises", e)
                    ids.append(((*at_exercise, "programExerciseId"), exercise.program_exercise_id))
                    for p, prescription in enumerate(exercise.prescriptions):
                        at_week = (*at_exercise, "prescriptions", p, "week")
                        _refuse_week_outside(at_week, prescription.week, self.weeks)
        _refuse_repeated_ids(ids)
        return self


# --- legacy shape (pre-refactor: superset columns and split prescription rows)


class LegacyPrescriptionRow(WireModel):
    """A split row: `sets` identical sets."""

    week: Week = 0
    sets: Annotated[int, Field(ge=1, le=MAX_SETS_PER_SERIES)]
    reps: Annotated[int, Field(ge=0, le=1000)] | None = None
    weight: Annotated[float, Field(ge=0)] | None = None
    rpe: Annotated[float, Field(ge=1, le=10)] | None = None
    rest_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None


class LegacyExercise(WireModel):
    program_exercise_id: UUID
    exercise_id: UUID
    name: Name
    order_index: Annotated[int, Field(ge=0)]
    superset_group: int | None = None
    superset_order: int | None = None
    prescription_rows: list[LegacyPrescriptionRow] = Field(default_factory=list)


class LegacySession(WireModel):
    session_id: UUID
    name: Name
    exercises: list[LegacyExercise] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_order(self) -> Self:
        repeat = _first_repeat(
            [(("exercises", i, "orderIndex"), e.order_index) for i, e in enumerate(self.exercises)]
        )
        if repeat:
            fail_at(
                repeat[0], f"another exercise of this session has orderIndex {repeat[1]}", repeat[1]
            )
        return self


class LegacyProgramSnapshot(WireModel):
    format: Literal["legacy"]
    name: Name
    weeks: Annotated[int, Field(ge=1, le=_MAX_WEEKS)] = 1
    sessions: Annotated[list[LegacySession], Field(max_length=50)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids_and_weeks(self) -> Self:
        ids: list[tuple[Location, Any]] = []
        for s, session in enumerate(self.sessions):
            at_session: Location = ("sessions", s)
            ids.append(((*at_session, "sessionId"), session.session_id))
            for e, exercise in enumerate(session.exercises):
                at_exercise: Location = (*at_session, "exercises", e)
                ids.append(((*at_exercise, "programExerciseId"), exercise.program_exercise_id))
                sets_per_week: dict[int, int] = {}
                for r, row in enumerate(exercise.prescription_rows):
                    at_row: Location = (*at_exercise, "prescriptionRows", r)
                    _refuse_week_outside((*at_row, "week"), row.week, self.weeks)
                    sets_per_week[row.week] = sets_per_week.get(row.week, 0) + row.sets
                    if sets_per_week[row.week] > MAX_SETS_PER_SERIES:
                        fail_at(
                            (*at_row, "sets"),
                            f"the rows of week {row.week} add up to more than "
                            f"{MAX_SETS_PER_SERIES} sets",
                            row.sets,
                        )
        _refuse_repeated_ids(ids)
        return self


def _snapshot_format(value: Any) -> str:
    if isinstance(value, dict):
        return "legacy" if value.get("format") == "legacy" else "v1"
    return "legacy" if getattr(value, "format", None) == "legacy" else "v1"


ProgramSnapshot = Annotated[
    Annotated[ProgramSnapshotV1, Tag("v1")] | Annotated[LegacyProgramSnapshot, Tag("legacy")],
    Discriminator(_snapshot_format),
]
