"""Templates that stay in sync, and undo: `program.sync` and `program.revert`.

Both compute the program they lead to as a value (`sync.synced`, `history.state_at`) and make the
program that value with `become`, which records exactly what differs: the events are what
changed, as for any command.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import commands as c
from contracts.commands import REVERTIBLE_VERSIONS
from service.domain.become import become
from service.domain.commands.registry import Reads, Step, handles
from service.domain.errors import Conflict, InvariantViolated, NotFound
from service.domain.history import HistoryGap, state_at
from service.domain.model import Program
from service.domain.sync import Sync, synced

_SYNC_READS = Reads(whole_program=True, source=True)
_REVERT_READS = Reads(whole_program=True, history=True)


def _sync_reads(program: Program, body: c.ProgramSyncBody) -> Reads:
    return _SYNC_READS


@handles(c.ProgramSyncBody, reads=_sync_reads, reads_others=True)
def program_sync(program: Program, body: c.ProgramSyncBody, step: Step) -> None:
    source = _source_of(program, body, step)
    result = synced(program, source, body.from_week, frozenset(body.override), step.ids)
    step.report = _report(result, body.dry_run, source.version)
    if body.dry_run:
        step.dry_run = True
        return
    become(program, result.program, step.changes)
    step.changes.program_row = True  # one program.updated always: its source's version moved


def _source_of(program: Program, body: c.ProgramSyncBody, step: Step) -> Program:
    """The copy's source, once every rule of the contract about it holds, in its order."""
    if program.source is None:
        raise InvariantViolated(
            f"program {program.id} is not a copy: only a program made by program.copy can be "
            "synced with its source",
        )
    if not program.origins_known:
        raise InvariantViolated(
            f"program {program.id} was copied before v1.3 and where its sessions came from could "
            "not be recovered: it cannot be synced (make a new copy of "
            f"{program.source.program_id} instead)",
            path="source",
        )
    source = step.context.program_of(program.source.program_id)
    if source is None or source.tenant_id != program.tenant_id:
        raise NotFound(
            f"program {program.source.program_id}, the source of program {program.id}, was "
            "deleted: there is nothing to sync from",
            path="source",
        )
    sessions = {session.id for session in source.sessions}
    for at, session_id in enumerate(body.override):
        if session_id not in sessions:
            raise NotFound(
                f"session {session_id} is not a session of the source program {source.id}: "
                "override names sessions of the source (sourceSessionId in the sync report)",
                path=f"override[{at}]",
            )
    if body.from_week >= source.weeks:
        raise InvariantViolated(
            f"fromWeek {body.from_week} is outside the source program {source.id}, which has "
            f"{source.weeks} weeks (0..{source.weeks - 1})",
            path="fromWeek",
        )
    return source


def _report(result: Sync, dry_run: bool, source_version: int) -> dict[str, Any]:
    """The result's `sync`, in wire form."""
    return {
        "dryRun": dry_run,
        "sourceProgramVersion": source_version,
        "sessions": [
            {
                "sourceSessionId": str(session.source_session_id),
                "sessionId": None if session.session_id is None else str(session.session_id),
                "state": session.state.value,
            }
            for session in result.sessions
        ],
    }


def _revert_reads(program: Program, body: c.ProgramRevertBody) -> Reads:
    return _REVERT_READS


@handles(c.ProgramRevertBody, reads=_revert_reads, reads_others=True)
def program_revert(program: Program, body: c.ProgramRevertBody, step: Step) -> None:
    """Everything but the athlete as it was at `toVersion`, as a new version."""
    oldest = max(1, program.version - REVERTIBLE_VERSIONS)
    if body.to_version >= program.version:
        raise InvariantViolated(
            f"toVersion {body.to_version} is not an earlier version: program {program.id} is at "
            f"version {program.version}",
            path="toVersion",
        )
    if body.to_version < oldest:
        raise InvariantViolated(
            f"toVersion {body.to_version} is more than {REVERTIBLE_VERSIONS} versions back: "
            f"program {program.id} is at version {program.version}, so the oldest version it "
            f"keeps is {oldest}",
            path="toVersion",
        )
    try:
        then = state_at(program, step.context.history_of(program.id), body.to_version)
    except HistoryGap as gap:
        raise InvariantViolated(
            f"version {body.to_version} of program {program.id} is not kept: versions are kept "
            f"from v1.3 of the service on, and version {gap.args[0]} was made before",
            path="toVersion",
        ) from None
    for entity_id in _brought_back(program, then):
        if step.context.id_taken(entity_id):
            raise Conflict(
                f"id {entity_id}, which program {program.id} held at version {body.to_version}, "
                "is now held by another program: nothing was reverted",
                path="toVersion",
            )
    become(program, then, step.changes)


def _brought_back(now: Program, then: Program) -> list[UUID]:
    """The session, group and program exercise ids `then` holds and `now` does not."""
    held = {entity_id for session in now.sessions for entity_id in session.entity_ids()}
    return [
        entity_id
        for session in then.sessions
        for entity_id in session.entity_ids()
        if entity_id not in held
    ]
