"""(v1.2) What a coach attaches to a program exercise: notes, the allowed swaps
(`alternatives`) and the progression rule the athlete's logging app follows."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator, model_validator

from contracts.base import WireModel, fail_at
from contracts.series import MAX_NOTES_LENGTH, ResolvedLoad, ResolvedUnit

MAX_ALTERNATIVES = 10

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ExerciseNotes = Annotated[str, Field(max_length=MAX_NOTES_LENGTH)]


class Alternative(WireModel):
    """A catalog exercise the athlete may do instead, with its display name."""

    exercise_id: UUID
    name: Name


Alternatives = Annotated[list[Alternative], Field(max_length=MAX_ALTERNATIVES)]


def check_alternatives(
    alternatives: list[Alternative], own_exercise_id: UUID | None, field: str
) -> None:
    """Distinct alternatives, none the exercise itself (when the same message names it)."""
    seen: set[UUID] = set()
    for at, alternative in enumerate(alternatives):
        if alternative.exercise_id in seen:
            fail_at(
                (field, at, "exerciseId"),
                f"exerciseId {alternative.exercise_id} is given more than once",
                str(alternative.exercise_id),
            )
        if alternative.exercise_id == own_exercise_id:
            fail_at(
                (field, at, "exerciseId"),
                f"exerciseId {alternative.exercise_id} is the exercise itself, not an alternative",
                str(alternative.exercise_id),
            )
        seen.add(alternative.exercise_id)


class StepUnit(StrEnum):
    KG = "kg"
    LB = "lb"
    PERCENT_1RM = "percent1rm"


class LoadStep(WireModel):
    """How much the load moves at each progression step."""

    value: Annotated[float, Field(ge=0.01, le=100)]
    unit: StepUnit


class LinearProgression(WireModel):
    """Add `loadStep` after each successful session; after `failuresBeforeDeload` failures in a
    row, take `deloadPercent` off."""

    kind: Literal["linear"]
    load_step: LoadStep
    failures_before_deload: Annotated[int, Field(ge=1, le=10)] = 3
    deload_percent: Annotated[float, Field(ge=0, le=50)] = 10


class DoubleProgression(WireModel):
    """Add reps up to `repsMax`, then add `loadStep` and go back to `repsMin`."""

    kind: Literal["double"]
    reps_min: Annotated[int, Field(ge=1, le=100)]
    reps_max: Annotated[int, Field(ge=1, le=100)]
    load_step: LoadStep

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.reps_min >= self.reps_max:
            fail_at(
                ("repsMin",),
                f"repsMin ({self.reps_min}) must be below repsMax ({self.reps_max})",
                self.reps_min,
            )
        return self


Progression = Annotated[LinearProgression | DoubleProgression, Field(discriminator="kind")]

PROGRESSION_KINDS = frozenset({"linear", "double"})
"""The tags of `Progression` (error paths leave them out: `progression.loadStep`)."""


# --- (v1.3) warm-up sets

MAX_WARMUP_STEPS = 8


class WarmupStep(WireModel):
    """One warm-up set: `reps` at `percent` % of the prescription's first working weight."""

    percent: Annotated[
        float,
        Field(
            ge=1,
            le=99,
            description="a share of the working weight in percent, 1..99, at most one decimal",
        ),
    ]
    reps: Annotated[int, Field(ge=1, le=20)]

    @field_validator("percent")
    @classmethod
    def _one_decimal(cls, value: float) -> float:
        # The shortest decimal text of the number is what the producer wrote (62.5, not
        # 62.500000001); `multipleOf: 0.1` is not in the schema: JSON Schema validators judge it
        # in binary floating point and would refuse 62.3.
        if Decimal(repr(value)).as_tuple().exponent < -1:  # type: ignore[operator]
            raise ValueError(f"percent has at most one decimal (62.5), got {value!r}")
        return value


class MinLoad(WireModel):
    """The lightest warm-up (the empty bar), in its own unit."""

    value: Annotated[float, Field(ge=0, le=1000)]
    unit: ResolvedUnit


class Warmup(WireModel):
    """The warm-up of a program exercise: up to 8 steps climbing strictly by `percent`, and the
    lightest weight one may take (`minLoad`, null when not given)."""

    steps: Annotated[list[WarmupStep], Field(min_length=1, max_length=MAX_WARMUP_STEPS)]
    min_load: MinLoad | None = None

    @model_validator(mode="after")
    def _climbing(self) -> Self:
        for at in range(1, len(self.steps)):
            before, step = self.steps[at - 1].percent, self.steps[at].percent
            if step <= before:
                fail_at(
                    ("steps", at, "percent"),
                    f"percent must climb from step to step: {step:g} is not above the "
                    f"{before:g} of steps[{at - 1}]",
                    step,
                )
        return self


class WarmupSet(WireModel):
    """(output only) One warm-up set of a prescription, as `prescription.updated` carries it in
    `warmupSets`: `reps` at a weight on the bar."""

    reps: int
    load: ResolvedLoad
