"""Templates that stay in sync, and undo: `program.sync` and `program.revert`."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from contracts.base import WireModel, fail_at
from contracts.commands.common import CommandEnvelope, Week

MAX_SYNC_OVERRIDES = 50
REVERTIBLE_VERSIONS = 100
"""How many versions back `program.revert` reaches."""


class ProgramSyncBody(WireModel):
    """(v1.3) Brings a copy up to its source program's current state, session by session: a
    session the copy customised (or removed) is kept unless its source session is in `override`;
    prescriptions of weeks before `fromWeek` stay as they are. `dryRun` only reports."""

    type: Literal["program.sync"]
    dry_run: bool = False
    from_week: Week = 0
    override: Annotated[list[UUID], Field(max_length=MAX_SYNC_OVERRIDES)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _distinct_overrides(self) -> Self:
        seen: set[UUID] = set()
        for at, session_id in enumerate(self.override):
            if session_id in seen:
                fail_at(
                    ("override", at),
                    f"session {session_id} is given more than once",
                    str(session_id),
                )
            seen.add(session_id)
        return self


class ProgramSync(CommandEnvelope, ProgramSyncBody, in_batch=False): ...


class ProgramRevertBody(WireModel):
    """(v1.3) Brings the program's content back to what it was at `toVersion` (one of its last
    100 versions), as a new version; the athlete stays as it is."""

    type: Literal["program.revert"]
    to_version: Annotated[int, Field(ge=1)]


class ProgramRevert(CommandEnvelope, ProgramRevertBody, in_batch=False): ...
