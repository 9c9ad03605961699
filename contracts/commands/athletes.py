"""Commands on the athlete of a program: assign, unassign, and set maxes."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from contracts.athletes import MAX_MAXES, Athlete, MaxChange, check_distinct_exercises
from contracts.base import WireModel
from contracts.commands.common import CommandEnvelope


class ProgramAssignBody(WireModel):
    """(v1.2) Assigns the program to this athlete, replacing any earlier one."""

    type: Literal["program.assign"]
    athlete: Athlete


class ProgramAssign(CommandEnvelope, ProgramAssignBody, in_batch=True): ...


class ProgramUnassignBody(WireModel):
    """(v1.2) Makes the program a template again."""

    type: Literal["program.unassign"]


class ProgramUnassign(CommandEnvelope, ProgramUnassignBody, in_batch=True): ...


class MaxesSetBody(WireModel):
    """(v1.2) Merges maxes into the athlete's: a value sets one, `value: null` deletes it."""

    type: Literal["maxes.set"]
    maxes: Annotated[list[MaxChange], Field(min_length=1, max_length=MAX_MAXES)]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        check_distinct_exercises([m.exercise_id for m in self.maxes], "maxes")
        return self


class MaxesSet(CommandEnvelope, MaxesSetBody, in_batch=True): ...
