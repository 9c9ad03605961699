"""Commands that change a program's structure: sessions, exercise groups, program exercises."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from contracts.base import WireModel, fail_at
from contracts.calendar import DayOffset
from contracts.commands.common import (
    MAX_EXERCISES_PER_GROUP,
    MAX_GROUPS_PER_SESSION,
    CommandEnvelope,
    Position,
)
from contracts.exercises import Alternatives, ExerciseNotes, Progression, Warmup, check_alternatives
from contracts.groups import GROUP_SETTINGS, GroupSettingsInput
from contracts.series import Series
from contracts.snapshots import Name


class SessionAddBody(WireModel):
    type: Literal["session.add"]
    session_id: UUID
    name: Name
    position: Position | None = None
    day_offset: DayOffset | None = None


class SessionAdd(CommandEnvelope, SessionAddBody, in_batch=True): ...


class SessionRemoveBody(WireModel):
    type: Literal["session.remove"]
    session_id: UUID


class SessionRemove(CommandEnvelope, SessionRemoveBody, in_batch=True): ...


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
    warmup: Warmup | None = None

    @model_validator(mode="after")
    def _one_group_target(self) -> Self:
        if self.group_id is not None and self.new_group_id is not None:
            raise ValueError(
                "groupId (join an existing group) and newGroupId (id of a new standalone group) "
                "exclude each other"
            )
        return self


class ExerciseAdd(CommandEnvelope, ExerciseAddBody, in_batch=True): ...


class ExerciseRemoveBody(WireModel):
    type: Literal["exercise.remove"]
    program_exercise_id: UUID


class ExerciseRemove(CommandEnvelope, ExerciseRemoveBody, in_batch=True): ...


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


class ExerciseMove(CommandEnvelope, ExerciseMoveBody, in_batch=True): ...


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


class ExercisesGroup(CommandEnvelope, ExercisesGroupBody, in_batch=True): ...


class GroupUngroupBody(WireModel):
    type: Literal["group.ungroup"]
    group_id: UUID


class GroupUngroup(CommandEnvelope, GroupUngroupBody, in_batch=True): ...


class GroupsReorderBody(WireModel):
    type: Literal["groups.reorder"]
    session_id: UUID
    group_ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_GROUPS_PER_SESSION)]


class GroupsReorder(CommandEnvelope, GroupsReorderBody, in_batch=True): ...


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


class GroupUpdate(CommandEnvelope, GroupUpdateBody, in_batch=True): ...


class SessionCopyBody(WireModel):
    type: Literal["session.copy"]
    session_id: UUID
    new_session_id: UUID
    name: Name | None = None
    position: Position | None = None


class SessionCopy(CommandEnvelope, SessionCopyBody, in_batch=True): ...


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


class ExerciseUpdate(CommandEnvelope, ExerciseUpdateBody, in_batch=True): ...
