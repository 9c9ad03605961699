"""The command result of CONTRACT.md § "Results" and its error codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import WireModel


class CommandStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class ErrorCode(StrEnum):
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVARIANT_VIOLATED = "invariant_violated"
    UNSUPPORTED = "unsupported"


class ErrorDetail(WireModel):
    """One reason, at one place of the command (`series[3].reps`, or "" for the whole command)."""

    path: str
    reason: str


class CommandError(WireModel):
    code: ErrorCode
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class SyncState(StrEnum):
    """(v1.3) What `program.sync` did (or, in a dry run, would do) with one session."""

    UNCHANGED = "unchanged"
    SYNCED = "synced"
    NEW = "new"
    CUSTOM = "custom"
    REMOVED = "removed"


class SyncedSession(WireModel):
    """One session of a sync: the source's (`sourceSessionId`) and the copy's (`sessionId`,
    null for a `custom` session that the copy removed; for a `new` one, the id it gets)."""

    source_session_id: UUID
    session_id: UUID | None
    state: SyncState


class SyncReport(WireModel):
    """(v1.3) The result of `program.sync` adds this (also on its duplicates)."""

    dry_run: bool
    source_program_version: int
    sessions: list[SyncedSession]


class CommandResult(WireModel):
    """Exactly one outcome per distinct commandId.

    `duplicate` repeats the first outcome's version and error.
    """

    command_id: UUID
    type: Annotated[str, Field(max_length=200)]
    program_id: UUID | None
    status: CommandStatus
    program_version: int | None
    error: CommandError | None
    processed_at: AwareDatetime
    # v1.3: only on the results of program.sync
    sync: SyncReport | None = None
