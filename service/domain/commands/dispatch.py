"""`apply`: one command against its program, through the handler the registry names for it.

It checks what every command shares (the program exists for the tenant, or must not for one
that creates it; `expectedVersion`; ids the command creates are free elsewhere), runs the
handler on a copy of the aggregate when the handler needs one, and returns the new program with
what changed and the events that announce it. A `Rejection` leaves the caller's program as it
was.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import commands as c
from service.domain.changes import Changes
from service.domain.commands.registry import Context, Step, handler_of, ids_created_by
from service.domain.errors import Conflict, NotFound
from service.domain.events import Event, announce
from service.domain.ids import IdDeriver
from service.domain.model import Program


@dataclass(frozen=True, slots=True)
class Applied:
    """`program` is what `changes` describe and what is written: the command's program, or the
    one it made (program.copy). `version` is the command's own program's version after it."""

    program: Program
    changes: Changes
    events: list[Event]
    version: int


def apply(program: Program | None, command: c.Command, context: Context) -> Applied:
    """Apply one command to `program` (None when it does not exist). Raises `Rejection`, and
    `PrescriptionsNotLoaded` when it needs stored prescriptions the caller did not load."""
    handler = handler_of(command)
    if program is not None and program.deleted:
        program = None  # deleted earlier in the same batch
    if handler.creates_program:
        if program is not None:
            raise Conflict(f"program {command.program_id} already exists", path="programId")
        target = Program(command.program_id, command.tenant_id, "", 1, 0)
    else:
        if program is None or program.tenant_id != command.tenant_id:
            # The same answer whether the program is missing or another tenant's: no hint.
            raise NotFound(
                f"program {command.program_id} not found for tenant {command.tenant_id!r}",
                path="programId",
            )
        if command.expected_version is not None and command.expected_version != program.version:
            raise Conflict(
                f"expectedVersion is {command.expected_version} but program {program.id} is at "
                f"version {program.version}",
                path="expectedVersion",
            )
        target = program.copy() if handler.copies else program
    for path, entity_id in ids_created_by(command):
        if context.id_taken(entity_id):
            if path in ("programId", "newProgramId"):
                raise Conflict(
                    f"program {entity_id} exists or was deleted: a program id is never reused",
                    path=path,
                )
            raise Conflict(f"id {entity_id} is already in use", path=path)

    changes = Changes()
    step = Step(changes, context, IdDeriver(command.command_id))
    handler.apply(target, command, step)
    if handler.versioned:
        target.version += 1
    written = step.output or target
    events = announce(written, changes, command.command_id, context.now)
    return Applied(written, changes, events, target.version)
