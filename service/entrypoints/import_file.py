"""The bulk import's input and output files: JSON Lines read one bounded line at a time, each line
turned into a `program.import` command (or found unreadable), the tally and the report.

Nothing here touches Kafka: `bulk_import` sends what `read_line` makes and tallies what comes back.
CONTRACT.md § "Operating the service → Bulk import (`program-builder import`)".
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

COMMAND_ID_NAMESPACE = uuid.UUID("8f3c2b1a-6d4e-4f5a-9b7c-1e2d3c4b5a69")
"""commandId = uuid5(this, tenantId + ":" + programId): a rerun sends the same commandIds."""

MAX_LINE_BYTES = 256 * 1024
"""A command value is at most 256 KiB (CONTRACT.md § Commands); a longer line cannot be one."""

UNREADABLE = "unreadable"
"""The report's code for a line that was never sent."""


def command_id_of(tenant_id: str, program_id: str) -> uuid.UUID:
    return uuid.uuid5(COMMAND_ID_NAMESPACE, f"{tenant_id}:{program_id}")


@dataclass(frozen=True, slots=True)
class Line:
    """One physical line of the input: its 1-based number and bytes (None: over the limit)."""

    number: int
    text: bytes | None


def lines_of(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Every non-blank line, at most `limit` bytes held at a time: a longer line is skipped to
    its end unread (its `text` is None), so memory stays flat whatever the file holds."""
    number = 0
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(64 * 1024)
            yield Line(number, None)
            continue
        if chunk.strip():
            yield Line(number, chunk)


def count_lines(stream: IO[bytes]) -> int:
    """The number of lines `lines_of` yields (the progress bar's total), as flat in memory."""
    return sum(1 for _ in lines_of(stream))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line that is not a JSON object with a UUID `programId`, a `tenantId` and a `program`
    object (or that would make a command over the limit): reported, never sent."""

    line: int
    program_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ImportCommand:
    """A line's `program.import`, ready to send."""

    line: int
    tenant_id: str
    program_id: str
    command_id: uuid.UUID
    value: bytes


def read_line(line: Line, default_tenant: str | None) -> ImportCommand | Unreadable:
    if line.text is None:
        return Unreadable(
            line.number, None, f"the line is over {MAX_LINE_BYTES // 1024} KiB (a command's limit)"
        )
    try:
        document = json.loads(line.text)
    except (ValueError, UnicodeDecodeError) as error:
        return Unreadable(line.number, None, f"not JSON: {error}")
    if not isinstance(document, dict):
        return Unreadable(line.number, None, "not a JSON object")
    raw_id = document.get("programId")
    program_id = raw_id if isinstance(raw_id, str) else None
    try:
        program_id = str(uuid.UUID(program_id)) if program_id is not None else None
    except ValueError:
        return Unreadable(line.number, program_id, "programId is not a UUID")
    if program_id is None:
        return Unreadable(line.number, None, "no programId (a UUID string)")
    tenant_id = document.get("tenantId", default_tenant)
    if tenant_id is None:
        return Unreadable(line.number, program_id, "no tenantId in the line and no --tenant")
    if not isinstance(tenant_id, str) or not tenant_id:
        return Unreadable(line.number, program_id, "tenantId is not a non-empty string")
    program = document.get("program")
    if not isinstance(program, dict):
        return Unreadable(line.number, program_id, "no program object")
    command_id = command_id_of(tenant_id, program_id)
    value = json.dumps(
        {
            "commandId": str(command_id),
            "type": "program.import",
            "tenantId": tenant_id,
            "programId": program_id,
            "program": program,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    if len(value) > MAX_LINE_BYTES:
        return Unreadable(
            line.number,
            program_id,
            f"its command would be {len(value)} bytes, over the {MAX_LINE_BYTES // 1024} KiB limit",
        )
    return ImportCommand(line.number, tenant_id, program_id, command_id, value)


@dataclass(slots=True)
class Tally:
    """What became of the lines so far."""

    imported: int = 0
    already_imported: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0

    @property
    def done(self) -> int:
        return self.imported + self.already_imported + sum(self.rejected.values()) + self.unreadable

    @property
    def failed(self) -> int:
        return sum(self.rejected.values()) + self.unreadable

    def summary(self) -> str:
        rejected = sum(self.rejected.values())
        codes = ", ".join(f"{code} {n}" for code, n in sorted(self.rejected.items()))
        return (
            f"imported {self.imported}, already imported {self.already_imported}, "
            f"rejected {rejected}{f' ({codes})' if codes else ''}, unreadable {self.unreadable}"
        )


class Report:
    """The report file: one JSON object per rejected or unreadable line, written as it is known
    (so an interrupted run leaves what it found)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.entries = 0

    def add(
        self,
        line: int,
        program_id: str | None,
        code: str,
        message: str,
        details: list[Any] | None = None,
    ) -> None:
        entry = {
            "line": line,
            "programId": program_id,
            "code": code,
            "message": message,
            "details": details or [],
        }
        self.stream.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.entries += 1

    def unreadable(self, item: Unreadable) -> None:
        self.add(item.line, item.program_id, UNREADABLE, item.message)
