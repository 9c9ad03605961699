"""Commands on a whole program: create, import, update, republish, copy, delete, and the batch
of edits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from contracts.athletes import Athlete
from contracts.base import WireModel
from contracts.commands.common import MAX_WEEKS, CommandEnvelope, check_distinct_weeks
from contracts.snapshots import Name, ProgramSnapshot, WeekLabelInput

if TYPE_CHECKING:
    from contracts.commands import BatchOperation


MAX_BATCH_OPERATIONS = 200

Weeks = Annotated[int, Field(ge=1, le=MAX_WEEKS)]
WeekLabels = Annotated[list[WeekLabelInput], Field(max_length=MAX_WEEKS)]


class ProgramCreateBody(WireModel):
    type: Literal["program.create"]
    name: Name
    weeks: Weeks = 1


class ProgramCreate(CommandEnvelope, ProgramCreateBody, in_batch=False): ...


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


class ProgramUpdate(CommandEnvelope, ProgramUpdateBody, in_batch=True): ...


class ProgramImportBody(WireModel):
    type: Literal["program.import"]
    program: ProgramSnapshot


class ProgramImport(CommandEnvelope, ProgramImportBody, in_batch=False): ...


class ProgramRepublishBody(WireModel):
    type: Literal["program.republish"]


class ProgramRepublish(CommandEnvelope, ProgramRepublishBody, in_batch=False): ...


class ProgramCopyBody(WireModel):
    """A deep copy of the command's program as a new program of the same tenant.

    `athlete` (v1.2): absent keeps the source's athlete, null makes the copy a template, an
    object assigns the copy to that athlete."""

    type: Literal["program.copy"]
    new_program_id: UUID
    name: Name | None = None
    athlete: Athlete | None = None


class ProgramCopy(CommandEnvelope, ProgramCopyBody, in_batch=False): ...


class ProgramDeleteBody(WireModel):
    """Deletes the program with everything in it; its id is never used again."""

    type: Literal["program.delete"]


class ProgramDelete(CommandEnvelope, ProgramDeleteBody, in_batch=False): ...


class BatchBody(WireModel):
    # `BatchOperation` is made of every family's bodies, this one's among them: the package
    # assembles it once all are defined, then completes this model (`model_rebuild`).
    type: Literal["batch"]
    operations: Annotated[
        list[BatchOperation], Field(min_length=1, max_length=MAX_BATCH_OPERATIONS)
    ]


class Batch(CommandEnvelope, BatchBody, in_batch=False): ...
