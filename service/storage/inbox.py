"""The inbox: one row per processed commandId with its first outcome (the idempotency record)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.storage.database import Connection, Write, execute_many, run

_FIND = """
SELECT command_id, command_type, program_id, status, program_version, error, tenant_id, sync
FROM inbox WHERE command_id = ANY($1::uuid[])
"""
_PRUNE = """
DELETE FROM inbox WHERE command_id IN (
    SELECT command_id FROM inbox WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2
)
"""
_RECORD = """
INSERT INTO inbox
    (command_id, command_type, program_id, status, program_version, error, tenant_id, sync)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


@dataclass(frozen=True, slots=True)
class InboxEntry:
    command_id: UUID
    command_type: str
    program_id: UUID | None
    status: str
    program_version: int | None
    error: dict[str, Any] | None
    tenant_id: str | None = None  # who owns the commandId; None: the command named no valid one
    sync: dict[str, Any] | None = None  # The report of an applied program.sync, as sent

    def row(self) -> tuple[object, ...]:
        return (
            self.command_id,
            self.command_type,
            self.program_id,
            self.status,
            self.program_version,
            self.error,
            self.tenant_id,
            self.sync,
        )


async def find(connection: Connection, command_ids: Iterable[UUID]) -> dict[UUID, InboxEntry]:
    ids = list(set(command_ids))
    if not ids:
        return {}
    rows = await connection.fetch(_FIND, ids)
    return {row["command_id"]: InboxEntry(**dict(row)) for row in rows}


async def record(connection: Connection, entries: Sequence[InboxEntry]) -> None:
    await run(connection, recording(entries))


def recording(entries: Sequence[InboxEntry]) -> list[Write]:
    """The statement that records these entries (executemany: one round trip; COPY takes two)."""
    return [execute_many(_RECORD, [entry.row() for entry in entries])] if entries else []


async def prune(connection: Connection, older_than_seconds: float, limit: int) -> int:
    """Forget commands processed longer ago than the retention (outside the dedupe window)."""
    status = await connection.execute(_PRUNE, float(older_than_seconds), limit)
    return int(status.split()[-1])
