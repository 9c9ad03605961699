"""Every command of CONTRACT.md § "Commands": the common envelope and one model per `type`."""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from contracts.athletes import MAX_MAXES, Athlete, MaxChange, check_distinct_exercises
from contracts.base import WireModel, fail_at
from contracts.calendar import CalendarDate, DayOffset
from contracts.exercises import (
    Alternatives,
    ExerciseNotes,
    Progression,
    Warmup,
    check_alternatives,
)
from contracts.groups import GROUP_SETTINGS, GroupSettingsInput
from contracts.series import PrescriptionSeriesData, PrescriptionSeriesPatch, Series
from contracts.snapshots import Name, ProgramSnapshot, WeekLabelInput

MAX_WEEKS = 52
MAX_SESSIONS_PER_PROGRAM = 50
MAX_GROUPS_PER_SESSION = 60
MAX_EXERCISES_PER_GROUP = 12
MAX_BATCH_OPERATIONS = 200
MAX_COMMAND_BYTES = 256 * 1024
MAX_SYNC_OVERRIDES = 50
REVERTIBLE_VERSIONS = 100
"""How many versions back `program.revert` reaches (v1.3)."""

TenantId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Position = Annotated[int, Field(ge=0)]
Week = Annotated[int, Field(ge=0, le=MAX_WEEKS - 1)]
Weeks = Annotated[int, Field(ge=1, le=MAX_WEEKS)]
TargetWeeks = Annotated[list[Week], Field(min_length=1, max_length=MAX_WEEKS)]
WeekLabels = Annotated[list[WeekLabelInput], Field(max_length=MAX_WEEKS)]


def check_distinct_weeks(weeks: list[int], field: str) -> None:
    """Refuse a week given twice, at the path of its second appearance."""
    seen: set[int] = set()
    for at, week in enumerate(weeks):
        if week in seen:
            fail_at((field, at), f"week {week} is given more than once", week)
        seen.add(week)


# --- bodies: the fields of each command type, without the common envelope (also batch operations)


class ProgramCreateBody(WireModel):
    type: Literal["program.create"]
    name: Name
    weeks: Weeks = 1


class ProgramUpdateBody(WireModel):
    """`weekLabels` replaces every label (`[]` clears them all); absent keeps them."""

    type: Literal["program.update"]
    name: Name | None = None
    weeks: Weeks | None = None
    week_labels: WeekLabels | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.name is None and self.weeks is None and self.week_labels is None:
            raise ValueError("program.update needs name, weeks, weekLabels or several of them")
        if self.week_labels is not None:
            check_distinct_weeks([label.week for label in self.week_labels], "weekLabels")
        return self


class SessionAddBody(WireModel):
    type: Literal["session.add"]
    session_id: UUID
    name: Name
    position: Position | None = None
    day_offset: DayOffset | None = None  # v1.3


class SessionRemoveBody(WireModel):
    type: Literal["session.remove"]
    session_id: UUID


class ExerciseAddBody(WireModel):
    type: Literal["exercise.add"]
    session_id: UUID
    program_exercise_id: UUID
    exercise_id: UUID
    name: Name
    group_id: UUID | None = None
    new_group_id: UUID | None = None
    position: Position | None = None
    series: Series = Field(default_factory=list)
    warmup: Warmup | None = None  # v1.3

    @model_validator(mode="after")
    def _one_group_target(self) -> Self:
        if self.group_id is not None and self.new_group_id is not None:
            raise ValueError(
                "groupId (join an existing group) and newGroupId (id of a new standalone group) "
                "exclude each other"
            )
        return self


class ExerciseRemoveBody(WireModel):
    type: Literal["exercise.remove"]
    program_exercise_id: UUID


class ExerciseMoveBody(WireModel):
    type: Literal["exercise.move"]
    program_exercise_id: UUID
    to_group_id: UUID | None = None
    position: Position | None = None
    to_new_group_at: Position | None = None
    to_session_id: UUID | None = None
    new_group_id: UUID | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> Self:
        if (self.to_group_id is None) == (self.to_new_group_at is None):
            raise ValueError("give exactly one of toGroupId and toNewGroupAt")
        if self.to_group_id is not None and (
            self.to_session_id is not None or self.new_group_id is not None
        ):
            raise ValueError("toSessionId and newGroupId go with toNewGroupAt, not with toGroupId")
        if self.to_new_group_at is not None and self.position is not None:
            raise ValueError(
                "position goes with toGroupId; with toNewGroupAt the index is the position"
            )
        return self


class ExercisesGroupBody(WireModel):
    type: Literal["exercises.group"]
    session_id: UUID
    program_exercise_ids: Annotated[
        list[UUID], Field(min_length=2, max_length=MAX_EXERCISES_PER_GROUP)
    ]
    group_id: UUID | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.program_exercise_ids)) != len(self.program_exercise_ids):
            raise ValueError("programExerciseIds must be distinct")
        return self


class GroupUngroupBody(WireModel):
    type: Literal["group.ungroup"]
    group_id: UUID


class GroupsReorderBody(WireModel):
    type: Literal["groups.reorder"]
    session_id: UUID
    group_ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_GROUPS_PER_SESSION)]


class GroupUpdateBody(GroupSettingsInput):
    """Absent fields are left as they are; an explicit null clears the setting."""

    type: Literal["group.update"]
    group_id: UUID

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set & GROUP_SETTINGS:
            raise ValueError(
                "group.update needs at least one of rounds, restBetweenRoundsSeconds, notes, "
                "format, timeCapSeconds, intervalSeconds and intervalRestSeconds"
            )
        return self


class SessionCopyBody(WireModel):
    type: Literal["session.copy"]
    session_id: UUID
    new_session_id: UUID
    name: Name | None = None
    position: Position | None = None


class SeriesReplaceBody(WireModel):
    type: Literal["series.replace"]
    program_exercise_id: UUID
    week: Week = 0
    series: Series


class SeriesAddBody(WireModel):
    type: Literal["series.add"]
    program_exercise_id: UUID
    week: Week = 0
    set: PrescriptionSeriesData
    position: Position | None = None


class SeriesUpdateBody(WireModel):
    type: Literal["series.update"]
    program_exercise_id: UUID
    week: Week = 0
    index: Position
    set: PrescriptionSeriesPatch


class SeriesRemoveBody(WireModel):
    type: Literal["series.remove"]
    program_exercise_id: UUID
    week: Week = 0
    index: Position


class SeriesMoveBody(WireModel):
    type: Literal["series.move"]
    program_exercise_id: UUID
    week: Week = 0
    from_: Annotated[Position, Field(alias="from")]
    to: Position


class WeekCopyBody(WireModel):
    """Copies every `fromWeek` series (of one session, or of the whole program) to `toWeeks`."""

    type: Literal["week.copy"]
    from_week: Week
    to_weeks: TargetWeeks
    session_id: UUID | None = None

    @model_validator(mode="after")
    def _targets(self) -> Self:
        check_distinct_weeks(self.to_weeks, "toWeeks")
        for at, week in enumerate(self.to_weeks):
            if week == self.from_week:
                fail_at(("toWeeks", at), f"week {week} is fromWeek itself", week)
        return self


class WeekInsertBody(WireModel):
    """Inserts `count` empty weeks at `at`; later weeks (and their labels) move up."""

    type: Literal["week.insert"]
    at: Annotated[int, Field(ge=0, le=MAX_WEEKS)]
    count: Annotated[int, Field(ge=1, le=MAX_WEEKS - 1)] = 1


class WeekRemoveBody(WireModel):
    """Deletes one week; later weeks (and their labels) move down."""

    type: Literal["week.remove"]
    week: Week


class ProgressionStep(WireModel):
    """What each week after `fromWeek` adds to the sets that have the field."""

    load: Annotated[float, Field(ge=-10_000, le=10_000)] | None = None
    reps: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    rpe: Annotated[float, Field(ge=-9, le=9)] | None = None
    rir: Annotated[int, Field(ge=-10, le=10)] | None = None

    @field_validator("rpe")
    @classmethod
    def _rpe_steps(cls, value: float | None) -> float | None:
        if value is not None and not (value * 2).is_integer():
            raise ValueError(f"an rpe step is a multiple of 0.5, got {value:g}")
        return value

    @model_validator(mode="after")
    def _something_to_add(self) -> Self:
        if all(value is None for value in (self.load, self.reps, self.rpe, self.rir)):
            raise ValueError("step needs at least one of load, reps, rpe and rir")
        return self


class SeriesProgressBody(WireModel):
    """Writes week `w` as the `fromWeek` series plus `step * (w - fromWeek)`."""

    type: Literal["series.progress"]
    program_exercise_id: UUID
    from_week: Week = 0
    to_weeks: TargetWeeks
    step: ProgressionStep

    @model_validator(mode="after")
    def _later_weeks(self) -> Self:
        check_distinct_weeks(self.to_weeks, "toWeeks")
        for at, week in enumerate(self.to_weeks):
            if week <= self.from_week:
                fail_at(
                    ("toWeeks", at),
                    f"week {week} is not after fromWeek ({self.from_week}): progression goes "
                    "forward",
                    week,
                )
        return self


class ProgramImportBody(WireModel):
    type: Literal["program.import"]
    program: ProgramSnapshot


class ProgramRepublishBody(WireModel):
    type: Literal["program.republish"]


class ProgramCopyBody(WireModel):
    """A deep copy of the command's program as a new program of the same tenant.

    `athlete` (v1.2): absent keeps the source's athlete, null makes the copy a template, an
    object assigns the copy to that athlete."""

    type: Literal["program.copy"]
    new_program_id: UUID
    name: Name | None = None
    athlete: Athlete | None = None


class ProgramSyncBody(WireModel):
    """(v1.3) Brings a copy up to its source program's current state, session by session: a
    session the copy customised (or removed) is kept unless its source session is in `override`;
    prescriptions of weeks before `fromWeek` stay as they are. `dryRun` only reports."""

    type: Literal["program.sync"]
    dry_run: bool = False
    from_week: Week = 0
    override: Annotated[list[UUID], Field(max_length=MAX_SYNC_OVERRIDES)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _distinct_overrides(self) -> Self:
        seen: set[UUID] = set()
        for at, session_id in enumerate(self.override):
            if session_id in seen:
                fail_at(
                    ("override", at),
                    f"session {session_id} is given more than once",
                    str(session_id),
                )
            seen.add(session_id)
        return self


class ProgramRevertBody(WireModel):
    """(v1.3) Brings the program's content back to what it was at `toVersion` (one of its last
    100 versions), as a new version; the athlete stays as it is."""

    type: Literal["program.revert"]
    to_version: Annotated[int, Field(ge=1)]


class ProgramAssignBody(WireModel):
    """(v1.2) Assigns the program to this athlete, replacing any earlier one."""

    type: Literal["program.assign"]
    athlete: Athlete


class ProgramUnassignBody(WireModel):
    """(v1.2) Makes the program a template again."""

    type: Literal["program.unassign"]


class MaxesSetBody(WireModel):
    """(v1.2) Merges maxes into the athlete's: a value sets one, `value: null` deletes it."""

    type: Literal["maxes.set"]
    maxes: Annotated[list[MaxChange], Field(min_length=1, max_length=MAX_MAXES)]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        check_distinct_exercises([m.exercise_id for m in self.maxes], "maxes")
        return self


EXERCISE_UPDATE_FIELDS = frozenset(
    {"exercise_id", "name", "notes", "alternatives", "progression", "warmup"}
)


class ExerciseUpdateBody(WireModel):
    """(v1.2) Changes a program exercise in place: absent keeps, null clears `notes`,
    `alternatives`, `progression` or (v1.3) `warmup`; `exerciseId` and `name` cannot be
    cleared."""

    type: Literal["exercise.update"]
    program_exercise_id: UUID
    exercise_id: UUID | None = None
    name: Name | None = None
    notes: ExerciseNotes | None = None
    alternatives: Alternatives | None = None
    progression: Progression | None = None
    warmup: Warmup | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        given = self.model_fields_set & EXERCISE_UPDATE_FIELDS
        if not given:
            raise ValueError(
                "exercise.update needs at least one of exerciseId, name, notes, alternatives, "
                "progression and warmup"
            )
        for field, wire in (("exercise_id", "exerciseId"), ("name", "name")):
            if field in given and getattr(self, field) is None:
                fail_at((wire,), f"{wire} cannot be cleared: leave it out to keep it", None)
        if self.alternatives is not None:
            check_alternatives(self.alternatives, self.exercise_id, "alternatives")
        return self


class ProgramScheduleBody(WireModel):
    """(v1.3) Sets (a date) or clears (null) the program's start date, the first day of week 0."""

    type: Literal["program.schedule"]
    start_date: CalendarDate | None


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


class SessionRescheduleBody(WireModel):
    """(v1.3) Moves one week's session to `date` (null: back to its default day)."""

    type: Literal["session.reschedule"]
    session_id: UUID
    week: Week
    date: CalendarDate | None


class ProgramDeleteBody(WireModel):
    """Deletes the program with everything in it; its id is never used again."""

    type: Literal["program.delete"]


BatchOperation = Annotated[
    ProgramUpdateBody
    | SessionAddBody
    | SessionRemoveBody
    | ExerciseAddBody
    | ExerciseRemoveBody
    | ExerciseMoveBody
    | ExercisesGroupBody
    | GroupUngroupBody
    | GroupsReorderBody
    | GroupUpdateBody
    | SessionCopyBody
    | SeriesReplaceBody
    | SeriesAddBody
    | SeriesUpdateBody
    | SeriesRemoveBody
    | SeriesMoveBody
    | WeekCopyBody
    | WeekInsertBody
    | WeekRemoveBody
    | SeriesProgressBody
    | ProgramAssignBody
    | ProgramUnassignBody
    | MaxesSetBody
    | ExerciseUpdateBody
    | ProgramScheduleBody
    | SessionUpdateBody
    | SessionRescheduleBody,
    Field(discriminator="type"),
]
"""What a batch may hold: every edit of an existing program.

Not create, import, republish or batch.
"""


class BatchBody(WireModel):
    type: Literal["batch"]
    operations: Annotated[
        list[BatchOperation], Field(min_length=1, max_length=MAX_BATCH_OPERATIONS)
    ]


# --- full commands: the envelope plus a body


class CommandEnvelope(WireModel):
    """Fields every command carries."""

    command_id: UUID
    tenant_id: TenantId
    program_id: UUID
    expected_version: Annotated[int, Field(ge=0)] | None = None
    issued_at: AwareDatetime | None = None


class ProgramCreate(CommandEnvelope, ProgramCreateBody): ...


class ProgramUpdate(CommandEnvelope, ProgramUpdateBody): ...


class SessionAdd(CommandEnvelope, SessionAddBody): ...


class SessionRemove(CommandEnvelope, SessionRemoveBody): ...


class ExerciseAdd(CommandEnvelope, ExerciseAddBody): ...


class ExerciseRemove(CommandEnvelope, ExerciseRemoveBody): ...


class ExerciseMove(CommandEnvelope, ExerciseMoveBody): ...


class ExercisesGroup(CommandEnvelope, ExercisesGroupBody): ...


class GroupUngroup(CommandEnvelope, GroupUngroupBody): ...


class GroupsReorder(CommandEnvelope, GroupsReorderBody): ...


class GroupUpdate(CommandEnvelope, GroupUpdateBody): ...


class SessionCopy(CommandEnvelope, SessionCopyBody): ...


class SeriesReplace(CommandEnvelope, SeriesReplaceBody): ...


class SeriesAdd(CommandEnvelope, SeriesAddBody): ...


class SeriesUpdate(CommandEnvelope, SeriesUpdateBody): ...


class SeriesRemove(CommandEnvelope, SeriesRemoveBody): ...


class SeriesMove(CommandEnvelope, SeriesMoveBody): ...


class WeekCopy(CommandEnvelope, WeekCopyBody): ...


class WeekInsert(CommandEnvelope, WeekInsertBody): ...


class WeekRemove(CommandEnvelope, WeekRemoveBody): ...


class SeriesProgress(CommandEnvelope, SeriesProgressBody): ...


class ProgramImport(CommandEnvelope, ProgramImportBody): ...


class ProgramRepublish(CommandEnvelope, ProgramRepublishBody): ...


class ProgramCopy(CommandEnvelope, ProgramCopyBody): ...


class ProgramDelete(CommandEnvelope, ProgramDeleteBody): ...


class ProgramAssign(CommandEnvelope, ProgramAssignBody): ...


class ProgramUnassign(CommandEnvelope, ProgramUnassignBody): ...


class MaxesSet(CommandEnvelope, MaxesSetBody): ...


class ExerciseUpdate(CommandEnvelope, ExerciseUpdateBody): ...


class ProgramSchedule(CommandEnvelope, ProgramScheduleBody): ...


class SessionUpdate(CommandEnvelope, SessionUpdateBody): ...


class SessionReschedule(CommandEnvelope, SessionRescheduleBody): ...


class ProgramSync(CommandEnvelope, ProgramSyncBody): ...


class ProgramRevert(CommandEnvelope, ProgramRevertBody): ...


class Batch(CommandEnvelope, BatchBody): ...


Command = Annotated[
    ProgramCreate
    | ProgramUpdate
    | SessionAdd
    | SessionRemove
    | ExerciseAdd
    | ExerciseRemove
    | ExerciseMove
    | ExercisesGroup
    | GroupUngroup
    | GroupsReorder
    | GroupUpdate
    | SessionCopy
    | SeriesReplace
    | SeriesAdd
    | SeriesUpdate
    | SeriesRemove
    | SeriesMove
    | WeekCopy
    | WeekInsert
    | WeekRemove
    | SeriesProgress
    | ProgramImport
    | ProgramRepublish
    | ProgramCopy
    | ProgramDelete
    | ProgramAssign
    | ProgramUnassign
    | MaxesSet
    | ExerciseUpdate
    | ProgramSchedule
    | SessionUpdate
    | SessionReschedule
    | ProgramSync
    | ProgramRevert
    | Batch,
    Field(discriminator="type"),
]

COMMAND_TYPES: frozenset[str] = frozenset(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Command)[0])
)
"""Every `type` the contract knows; any other is `unsupported`."""
