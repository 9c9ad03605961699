"""Every command of CONTRACT.md § "Commands": one module per family, as the domain's handlers are
grouped (`service/domain/commands/`), assembled here into the unions the rest of the service uses.

A family module holds each of its command types as a body model (its fields, also what a batch
operation is) and one line that wraps it in the common envelope and says, once, whether it may
stand in a `batch`: `class SessionAdd(CommandEnvelope, SessionAddBody, in_batch=True): ...`
(`CommandEnvelope` requires `in_batch`). Everything else is derived from those lines: the batch
operations, `COMMAND_TYPES`, `BATCH_TYPES`. `Command` itself is the one list of the command types,
written out here because mypy only sees a union that is spelled out, and the handlers and the
service annotate with it; it also fixes the published order of the variants (the order of the
schemas' `oneOf`, which a union assembled from the families would change). The tests hold it to
the families: every envelope class a family defines is in it once, and nothing else is.
`BatchOperation` is built from the flags at run time, so mypy sees it as the body models' base,
which is all the service asks of a batch operation (it hands each to the handler registry).

Every public name of the families and of `common` is also a name of this package, so that
`from contracts.commands import X` keeps working for each of them.
"""

# Star imports: listing every re-exported name would write each command type out once more.
# ruff: noqa: F403
from typing import TYPE_CHECKING, Annotated, TypeAlias, Union, get_args

from pydantic import Field

from contracts.base import WireModel
from contracts.commands import athletes, calendar, programs, series, structure, templates, weeks
from contracts.commands.athletes import *
from contracts.commands.calendar import *
from contracts.commands.common import *
from contracts.commands.programs import *
from contracts.commands.series import *
from contracts.commands.structure import *
from contracts.commands.templates import *
from contracts.commands.weeks import *

Command = Annotated[
    programs.ProgramCreate
    | programs.ProgramUpdate
    | structure.SessionAdd
    | structure.SessionRemove
    | structure.ExerciseAdd
    | structure.ExerciseRemove
    | structure.ExerciseMove
    | structure.ExercisesGroup
    | structure.GroupUngroup
    | structure.GroupsReorder
    | structure.GroupUpdate
    | structure.SessionCopy
    | series.SeriesReplace
    | series.SeriesAdd
    | series.SeriesUpdate
    | series.SeriesRemove
    | series.SeriesMove
    | weeks.WeekCopy
    | weeks.WeekInsert
    | weeks.WeekRemove
    | weeks.SeriesProgress
    | programs.ProgramImport
    | programs.ProgramRepublish
    | programs.ProgramCopy
    | programs.ProgramDelete
    | athletes.ProgramAssign
    | athletes.ProgramUnassign
    | athletes.MaxesSet
    | structure.ExerciseUpdate
    | calendar.ProgramSchedule
    | calendar.SessionUpdate
    | calendar.SessionReschedule
    | templates.ProgramSync
    | templates.ProgramRevert
    | programs.Batch,
    Field(discriminator="type"),
]
"""A command of any type, its variants in the published order."""

_COMMANDS = get_args(get_args(Command)[0])

if TYPE_CHECKING:
    BatchOperation: TypeAlias = WireModel
else:
    BatchOperation = Annotated[
        Union[tuple(model.body for model in _COMMANDS if model.in_batch)],  # noqa: UP007
        Field(discriminator="type"),
    ]
"""What a batch may hold: the body of every command type declared `in_batch`, in `Command`'s
order (edits of an existing program)."""

programs.BatchBody.model_rebuild()
programs.Batch.model_rebuild()


def _type_of(model: type[WireModel]) -> str:
    tag: str = get_args(model.model_fields["type"].annotation)[0]
    return tag


COMMAND_TYPES: frozenset[str] = frozenset(_type_of(model) for model in _COMMANDS)
"""Every `type` the contract knows; any other is `unsupported`."""

BATCH_TYPES: frozenset[str] = frozenset(_type_of(model) for model in _COMMANDS if model.in_batch)
"""Every `type` that may stand in a batch."""
