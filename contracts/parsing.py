"""Raw Kafka bytes to a command, a rejection, or a dead letter, without ever raising."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from contracts.commands import COMMAND_TYPES, MAX_COMMAND_BYTES, Command
from contracts.dlq import DeadLetterCode
from contracts.exercises import PROGRESSION_KINDS
from contracts.results import CommandError, ErrorCode, ErrorDetail
from contracts.snapshots import OUTPUT_ONLY_FIELDS

_COMMAND = TypeAdapter[Command](Command)
_INT_DIGITS = 4000  # below Python's default int_max_str_digits (4300)
_UNION_TAGS = COMMAND_TYPES | {"v1", "legacy"} | PROGRESSION_KINDS


@dataclass(frozen=True, slots=True)
class Parsed:
    command: Command

    @property
    def command_id(self) -> UUID:
        return self.command.command_id

    @property
    def type(self) -> str:
        return self.command.type

    @property
    def program_id(self) -> UUID:
        return self.command.program_id

    @property
    def tenant_id(self) -> str:
        return self.command.tenant_id


@dataclass(frozen=True, slots=True)
class Refused:
    """A message with a valid commandId that breaks the contract: it gets a `rejected` result."""

    command_id: UUID
    type: str
    program_id: UUID | None
    tenant_id: str | None
    error: CommandError


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that cannot have a result: it goes to the DLQ unchanged."""

    code: DeadLetterCode
    message: str


ParseOutcome = Parsed | Refused | DeadLetter


def parse_command(value: bytes | None) -> ParseOutcome:
    """Classify one message value. Never raises, whatever the bytes."""
    try:
        return _parse(value)
    except Exception as error:  # a parser must not stop the consumer
        return DeadLetter(DeadLetterCode.NOT_JSON, f"unreadable message ({type(error).__name__})")


def _parse(value: bytes | None) -> ParseOutcome:
    if value is None:
        return DeadLetter(DeadLetterCode.NOT_JSON, "the message has no value")
    if len(value) > MAX_COMMAND_BYTES:
        return DeadLetter(
            DeadLetterCode.TOO_LARGE,
            f"the message is {len(value)} bytes; a command is at most {MAX_COMMAND_BYTES} bytes",
        )
    try:
        command = _COMMAND.validate_json(value)
    except ValidationError as fast_path_error:
        return _classify(value, fast_path_error)
    if b"\\u0000" in value:  # the only way JSON text can hold U+0000
        path = next(_paths_where(load_json(value), _holds_nul), None)
        if path is not None:
            reason = "text must not contain the NUL character (U+0000)"
            return Refused(
                command_id=command.command_id,
                type=command.type,
                program_id=command.program_id,
                tenant_id=None if "\x00" in command.tenant_id else command.tenant_id,
                error=CommandError(
                    code=ErrorCode.VALIDATION_FAILED,
                    message=f"{path or 'the command'}: {reason}",
                    details=[ErrorDetail(path=path, reason=reason)],
                ),
            )
    return Parsed(command)


def load_json(value: bytes) -> Any:
    """Any JSON text, as the fast path's parser reads it: strict UTF-8 (Python's own `json`
    would let UTF-8-encoded surrogates through) and integers of any length (beyond Python's
    limit on converting digits, a long one stays a `Decimal`: it is only ever reported)."""
    return json.loads(value.decode("utf-8"), parse_int=_integer)


def _integer(digits: str) -> int | Decimal:
    return int(digits) if len(digits) <= _INT_DIGITS else Decimal(digits)


def _paths_where(
    value: Any, matches: Callable[[Any], bool], location: tuple[str | int, ...] = ()
) -> Iterator[str]:
    """The wire path of each value (or object key: its object's path) that `matches`."""
    if matches(value):
        yield format_path(location)
        return
    if isinstance(value, list):
        items: Any = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return
    for key, item in items:
        if isinstance(key, str) and matches(key):
            yield format_path(location)
        yield from _paths_where(item, matches, (*location, key))


def _holds_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _classify(value: bytes, error: ValidationError) -> ParseOutcome:
    try:
        document: Any = load_json(value)
    except (ValueError, RecursionError) as not_json:
        return DeadLetter(DeadLetterCode.NOT_JSON, f"the message is not UTF-8 JSON: {not_json}")
    if not isinstance(document, dict):
        return DeadLetter(
            DeadLetterCode.NOT_AN_OBJECT,
            f"a command is a JSON object, this is a JSON {type(document).__name__}",
        )
    command_id = _uuid(document.get("commandId"))
    if command_id is None:
        return DeadLetter(
            DeadLetterCode.NO_COMMAND_ID, "the message has no commandId that is a UUID string"
        )
    raw_type = document.get("type")
    type_name = _printable(raw_type) if isinstance(raw_type, str) else ""
    tenant = document.get("tenantId")
    refused = _refusal(command_id, type_name[:200], document, tenant)
    if isinstance(raw_type, str) and raw_type not in COMMAND_TYPES:
        return refused(
            CommandError(
                code=ErrorCode.UNSUPPORTED,
                message=f"unknown command type {raw_type[:200]!r}",
                details=[
                    ErrorDetail(
                        path="type", reason=f"supported types: {', '.join(sorted(COMMAND_TYPES))}"
                    )
                ],
            )
        )
    details = _number_details(document) if _unreadable_number(error) else error_details(error)
    return refused(
        CommandError(
            code=ErrorCode.VALIDATION_FAILED,
            message=_summary(details),
            details=details,
        )
    )


def _unreadable_number(error: ValidationError) -> bool:
    """The fast path's JSON parser stopped at a number it cannot hold (an integer of thousands
    of digits, 1e400), which Python's reads: the error has no field path to tell."""
    return any(item["type"] == "json_invalid" for item in error.errors(include_url=False))


def _number_details(document: dict[str, Any]) -> list[ErrorDetail]:
    reason = "the number is out of range for this field"
    paths = islice(_paths_where(document, _out_of_range), 50)
    return [ErrorDetail(path=path, reason=reason) for path in paths] or [
        ErrorDetail(path="", reason="the message is not JSON that can be read")
    ]


def _out_of_range(value: Any) -> bool:
    return isinstance(value, Decimal) or (isinstance(value, float) and math.isinf(value))


def _refusal(
    command_id: UUID, type_name: str, document: dict[str, Any], tenant: Any
) -> Callable[[CommandError], Refused]:
    def build(error: CommandError) -> Refused:
        return Refused(
            command_id=command_id,
            type=type_name,
            program_id=_uuid(document.get("programId")),
            tenant_id=(
                tenant
                if isinstance(tenant, str)
                and 0 < len(tenant) <= 100
                and _printable(tenant) == tenant
                else None
            ),
            error=error,
        )

    return build


def _uuid(value: Any) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _summary(details: list[ErrorDetail]) -> str:
    first = details[0] if details else None
    if first is None:
        return "the command breaks the contract"
    where = first.path or "the command"
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first.reason}{more}"


def error_details(error: ValidationError) -> list[ErrorDetail]:
    """Each pydantic error as a wire path (`operations[2].set.reps`) and an actionable reason."""
    details: list[ErrorDetail] = []
    for item in error.errors(include_url=False, include_input=False):
        location = tuple(p for p in item["loc"] if p not in _UNION_TAGS)
        if item["type"] == "union_tag_invalid":
            # Commands (and batch operations) are discriminated by `type`, progressions by `kind`.
            context = item.get("ctx", {})
            field = str(context.get("discriminator", "'type'")).strip("'")
            details.append(
                ErrorDetail(
                    path=format_path((*location, field)),
                    reason=f"{context.get('tag')!r} is not allowed here; the types allowed "
                    f"here are {context.get('expected_tags')}",
                )
            )
            continue
        path = format_path(location)
        # Some pydantic messages quote the input (`found \u0000 at 0`): escape what we echo.
        reason = _printable(_reason(item["type"], item["msg"], location))
        details.append(ErrorDetail(path=path, reason=reason))
    return details[:50]


def format_path(location: tuple[str | int, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _printable(part)
            path += f".{name}" if path else name
    return path


def _printable(text: str) -> str:
    """Text from the message that we echo back: U+0000 and lone surrogates escaped, so that the
    result can be stored (PostgreSQL refuses both) and encoded."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(kind: str, message: str, location: tuple[str | int, ...] = ()) -> str:
    if kind == "extra_forbidden":
        if location and location[-1] in OUTPUT_ONLY_FIELDS:
            return (
                f"{location[-1]} is computed and published by the service, not sent: leave it "
                "out (only program.import snapshots accept it, and ignore it)"
            )
        return "unknown field: the contract has no such field here"
    if kind == "missing":
        return "required field is missing"
    return message.removeprefix("Value error, ")
