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
