"""(v1.2) The athlete a program is assigned to: reference maxes, training max share, plate
rounding and the unit of resolved loads, as CONTRACT.md § "The athlete of a program" states."""

from __future__ import annotations

from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator, model_validator

from contracts.base import WireModel, fail_at
from contracts.series import ResolvedUnit

MAX_MAXES = 200
MAX_VALUE = 2000
DEFAULT_TRAINING_MAX_PERCENT = 100
DEFAULT_ROUNDING_KG = 2.5
DEFAULT_ROUNDING_LB = 5

AthleteId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MaxValue = Annotated[float, Field(gt=0, le=MAX_VALUE)]
TrainingMaxPercent = Annotated[float, Field(ge=50, le=100, json_schema_extra={"multipleOf": 0.5})]


def check_distinct_exercises(exercise_ids: list[UUID], field: str) -> None:
    """Refuse an exerciseId given twice, at the path of its second appearance."""
    seen: set[UUID] = set()
    for at, exercise_id in enumerate(exercise_ids):
        if exercise_id in seen:
            fail_at(
                (field, at, "exerciseId"),
                f"exerciseId {exercise_id} is given more than once",
                str(exercise_id),
            )
        seen.add(exercise_id)


class Max(WireModel):
    """The athlete's reference max (1RM) of one catalog exercise."""

    exercise_id: UUID
    value: MaxValue
    unit: ResolvedUnit


class Rounding(WireModel):
    """The plate increment per unit: a resolved load is the nearest multiple of it. A given
    object replaces both; an omitted unit takes its default."""

    kg: Annotated[float, Field(ge=0.01, le=50)] = DEFAULT_ROUNDING_KG
    lb: Annotated[float, Field(ge=0.01, le=100)] = DEFAULT_ROUNDING_LB


class Athlete(WireModel):
    """The athlete of an assigned program; on output every field is present, defaults filled in
    and `maxes` ordered by `exerciseId`."""

    athlete_id: AthleteId
    maxes: Annotated[list[Max], Field(max_length=MAX_MAXES)] = Field(default_factory=list)
    training_max_percent: TrainingMaxPercent = DEFAULT_TRAINING_MAX_PERCENT
    rounding: Rounding = Field(default_factory=Rounding)
    unit: ResolvedUnit | None = None

    @field_validator("training_max_percent")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if not (value * 2).is_integer():
            raise ValueError(
                f"trainingMaxPercent goes in steps of 0.5 (90, 87.5 ...), got {value:g}"
            )
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        check_distinct_exercises([m.exercise_id for m in self.maxes], "maxes")
        return self


class MaxChange(WireModel):
    """One max of `maxes.set`: a value with its unit sets it, `value: null` (no unit) deletes it."""

    exercise_id: UUID
    value: MaxValue | None
    unit: ResolvedUnit | None = None

    @model_validator(mode="after")
    def _unit_with_value(self) -> Self:
        if self.value is None and self.unit is not None:
            fail_at(("unit",), "value: null deletes the max and takes no unit", self.unit.value)
        if self.value is not None and self.unit is None:
            fail_at(("unit",), "a max needs its unit (kg or lb)", None)
        return self
