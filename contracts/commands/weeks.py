"""Commands that spread a program over its weeks: copy a week forward, insert or remove weeks,
and progress a series week by week."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from contracts.base import WireModel, fail_at
from contracts.commands.common import MAX_WEEKS, CommandEnvelope, Week, check_distinct_weeks

TargetWeeks = Annotated[list[Week], Field(min_length=1, max_length=MAX_WEEKS)]


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


class WeekCopy(CommandEnvelope, WeekCopyBody, in_batch=True): ...


class WeekInsertBody(WireModel):
    """Inserts `count` empty weeks at `at`; later weeks (and their labels) move up."""

    type: Literal["week.insert"]
    at: Annotated[int, Field(ge=0, le=MAX_WEEKS)]
    count: Annotated[int, Field(ge=1, le=MAX_WEEKS - 1)] = 1


class WeekInsert(CommandEnvelope, WeekInsertBody, in_batch=True): ...


class WeekRemoveBody(WireModel):
    """Deletes one week; later weeks (and their labels) move down."""

    type: Literal["week.remove"]
    week: Week


class WeekRemove(CommandEnvelope, WeekRemoveBody, in_batch=True): ...


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


class SeriesProgress(CommandEnvelope, SeriesProgressBody, in_batch=True): ...
