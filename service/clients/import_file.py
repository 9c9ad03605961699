"""The bulk import's input and output files: JSON Lines read one bounded line at a time, each line
turned into a `program.import` command (or found unreadable), what each result means for its line,
the tally and the report.

Nothing here touches Kafka: `bulk_import` sends what `read_line` makes and tallies what comes back.
CONTRACT.md § "Operating the service → Bulk import (`program-builder import`)".
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import IO, Any

EXIT_OK = 0
EXIT_SOME_FAILED = 1
"""Some lines were rejected or unreadable (the report lists them)."""
EXIT_CANNOT_RUN = 2
"""Nothing could be sent: the settings, the file or the broker."""
EXIT_INTERRUPTED = 130

COMMAND_ID_NAMESPACE = uuid.UUID("8f3c2b1a-6d4e-4f5a-9b7c-1e2d3c4b5a69")
"""commandId = uuid5(this, tenantId + ":" + programId): a rerun sends the same commandIds."""

MAX_LINE_BYTES = 256 * 1024
"""A command value is at most 256 KiB (CONTRACT.md § Commands); a longer line cannot be one."""

UNREADABLE = "unreadable"
"""The report's code for a line that was never sent."""


def command_id_of(tenant_id: str, program_id: str) -> uuid.UUID:
    return uuid.uuid5(COMMAND_ID_NAMESPACE, f"{tenant_id}:{program_id}")


def content_id_of(tenant_id: str, program_id: str, text: bytes) -> uuid.UUID:
    """The second id of a line, `uuid5(namespace, tenantId:programId:sha256-hex(line))`,
    sent when its first id answers a rejection from an earlier run. The service remembers a
    commandId's first outcome for good, so the line's bytes are in this id: a line fixed since
    that run is a command the service has not seen (it is imported), an unchanged one is rejected
    again and from then on answered with that rejection (never applied)."""
    digest = hashlib.sha256(without_line_ending(text)).hexdigest()
    return uuid.uuid5(COMMAND_ID_NAMESPACE, f"{tenant_id}:{program_id}:{digest}")


def without_line_ending(text: bytes) -> bytes:
    """The line's bytes as its content id hashes them: without a final `\\n` or `\\r\\n`, so a
    line keeps its id whether the file was written with either ending, or ends without one."""
    if text.endswith(b"\r\n"):
        return text[:-2]
    if text.endswith(b"\n"):
        return text[:-1]
    return text


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
    """A line's `program.import`, ready to send under `command_id`: first the line's own id (its
    tenant and program), then, if that answers a rejection from an earlier run, `content_id`."""

    line: int
    tenant_id: str
    program_id: str
    command_id: uuid.UUID
    content_id: uuid.UUID
    value: bytes

    @property
    def under_content_id(self) -> bool:
        """Whether this is the line's second attempt (a rejection under it is final)."""
        return self.command_id == self.content_id

    def again_under_content_id(self) -> ImportCommand:
        """The same `program.import` with the content id as its commandId. Built from the value
        when needed (few lines are): a line's command is held once while it waits, not twice."""
        document = json.loads(self.value)
        document["commandId"] = str(self.content_id)
        return replace(self, command_id=self.content_id, value=_encoded(document))


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
    value = _encoded(
        {
            "commandId": str(command_id),
            "type": "program.import",
            "tenantId": tenant_id,
            "programId": program_id,
            "program": program,
        }
    )
    if len(value) > MAX_LINE_BYTES:  # (under the content id too: both ids are 36 characters)
        return Unreadable(
            line.number,
            program_id,
            f"its command would be {len(value)} bytes, over the {MAX_LINE_BYTES // 1024} KiB limit",
        )
    content_id = content_id_of(tenant_id, program_id, line.text)
    return ImportCommand(line.number, tenant_id, program_id, command_id, content_id, value)


def _encoded(command: dict[str, Any]) -> bytes:
    """A command's value as sent: compact UTF-8 JSON, the form the size limit is checked on."""
    return json.dumps(command, separators=(",", ":"), ensure_ascii=False).encode()


class Outcome(Enum):
    """A line that ended without a rejection."""

    IMPORTED = "imported"
    ALREADY_IMPORTED = "already imported"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that ended rejected: the service's error, as the report gives it."""

    code: str
    message: str
    details: list[Any]


def answers_an_earlier_rejection(result: dict[str, Any]) -> bool:
    """A `duplicate` repeats its commandId's first outcome: with an `error`, that was a rejection
    (of this line in an earlier run), and the line is sent once more under its content id."""
    return result.get("status") == "duplicate" and bool(result.get("error"))


def outcome_of(result: dict[str, Any], *, sent_again: bool) -> Outcome | Rejected:
    """What a result ends its line as (the line's last attempt: see `answers_an_earlier_rejection`).

    `duplicate` without an error is already imported, unless this run sent the command more
    than once (`sent_again`: no result came in time, the reply copy is best effort): this run's
    first send is then what most likely applied it, so it counts as imported. A `duplicate` with
    an error is the first outcome of these same bytes, a rejection: reported as one.
    """
    status, error = result.get("status"), result.get("error")
    if status == "applied":
        return Outcome.IMPORTED
    if status == "duplicate" and not error:
        return Outcome.IMPORTED if sent_again else Outcome.ALREADY_IMPORTED
    error = error if isinstance(error, dict) else {}
    details = error.get("details")
    return Rejected(
        str(error.get("code") or status or "unknown"),
        str(error.get("message") or f"status {status}"),
        details if isinstance(details, list) else [],
    )


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

    def add(self, outcome: Outcome | Rejected) -> None:
        if outcome is Outcome.IMPORTED:
            self.imported += 1
        elif outcome is Outcome.ALREADY_IMPORTED:
            self.already_imported += 1
        else:
            self.rejected[outcome.code] += 1

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

    def rejected(self, command: ImportCommand, rejection: Rejected) -> None:
        self.add(
            command.line, command.program_id, rejection.code, rejection.message, rejection.details
        )
