"""A program's kept versions in PostgreSQL (`program_history`): each `Undo` as one JSON row.

The row holds what the command changed, as it was before: the program's own fields (`p`), each
session it touched, whole (`s`), and each prescription it changed (`x`), null where the entity
did not exist. Keys are short: a program's history is written with every command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from contracts.commands import REVERTIBLE_VERSIONS
from contracts.exercises import Alternative, Progression, Warmup
from service.domain.history import ProgramFields, Undo
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    ProgramExercise,
    ProgramSource,
    Session,
)
from service.storage.database import Connection, Write, execute_many, execute_one

PRUNE_EVERY = 10
"""A program's undos older than `program.revert` reaches (`REVERTIBLE_VERSIONS`) are pruned when
its version reaches a multiple of this: at most `REVERTIBLE_VERSIONS + PRUNE_EVERY` rows per
program, at one statement per ten versions."""

_PROGRESSION: TypeAdapter[Progression] = TypeAdapter(Progression)

_INSERT = "INSERT INTO program_history (program_id, version, undo) VALUES ($1, $2, $3)"
_PRUNE = """
DELETE FROM program_history h
USING unnest($1::uuid[], $2::bigint[]) AS kept (program_id, below)
WHERE h.program_id = kept.program_id AND h.version <= kept.below
"""
_SINCE = """
SELECT version, undo FROM program_history WHERE program_id = $1 AND version > $2
"""
_SIZE = """
SELECT count(*) AS versions, coalesce(sum(pg_column_size(undo)), 0) AS bytes
FROM program_history
"""


def writing(rows: Iterable[tuple[UUID, Undo]]) -> list[Write]:
    """The statements that keep these undos (one per program and version) and prune what fell
    out of reach of the programs they move on."""
    encoded = [(program_id, undo.version, encode(undo)) for program_id, undo in rows]
    if not encoded:
        return []
    writes = [execute_many(_INSERT, encoded)]
    pruned = {
        program_id: version - REVERTIBLE_VERSIONS
        for program_id, version, _ in encoded
        if version % PRUNE_EVERY == 0 and version > REVERTIBLE_VERSIONS
    }
    if pruned:
        writes.append(execute_one(_PRUNE, list(pruned), list(pruned.values())))
    return writes


async def since(connection: Connection, program_id: UUID, version: int) -> list[Undo]:
    """The kept undos of `program_id` of the versions after `version`."""
    rows = await connection.fetch(_SINCE, program_id, version)
    return [decode(row["version"], row["undo"]) for row in rows]


async def size(connection: Connection) -> tuple[int, int]:
    """How many versions are kept and their size in bytes (as stored, compressed or not)."""
    row = await connection.fetchrow(_SIZE)
    assert row is not None
    return int(row["versions"]), int(row["bytes"])


# --- the JSON form


def encode(undo: Undo) -> dict[str, Any]:
    return {
        "p": None if undo.program is None else _fields(undo.program),
        "s": {str(k): None if v is None else _session(v) for k, v in undo.sessions.items()},
        "x": {
            str(k): None if v is None else [str(v.program_exercise_id), v.week, v.version, v.series]
            for k, v in undo.prescriptions.items()
        },
    }


def _fields(fields: ProgramFields) -> dict[str, Any]:
    return {
        "n": fields.name,
        "w": fields.weeks,
        "l": [list(label) for label in fields.week_labels],
        "d": None if fields.start_date is None else fields.start_date.isoformat(),
        "src": None
        if fields.source is None
        else [str(fields.source.program_id), fields.source.program_version],
        "o": [str(session_id) for session_id in fields.session_ids],
        "r": sorted(str(origin) for origin in fields.removed_origins),
    }


def _session(session: Session) -> dict[str, Any]:
    return {
        "n": session.name,
        "d": session.day_offset,
        "r": [[week, day.isoformat()] for week, day in sorted(session.rescheduled.items())],
        "o": _text(session.origin),
        "c": session.customised,
        "g": [
            [
                str(group.id),
                _text(group.origin),
                list(group.settings.values()),
                [_exercise(exercise) for exercise in group.exercises],
            ]
            for group in session.groups
        ],
    }


def _exercise(exercise: ProgramExercise) -> list[Any]:
    return [
        str(exercise.id),
        str(exercise.exercise_id),
        exercise.name,
        exercise.notes,
        [alternative.to_wire() for alternative in exercise.alternatives],
        None if exercise.progression is None else exercise.progression.to_wire(),
        None if exercise.warmup is None else exercise.warmup.to_wire(),
        _text(exercise.origin),
    ]


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def decode(version: int, data: Mapping[str, Any]) -> Undo:
    return Undo(
        version,
        None if data["p"] is None else _fields_of(data["p"]),
        {UUID(k): None if v is None else _session_of(UUID(k), v) for k, v in data["s"].items()},
        {
            UUID(k): None if v is None else _prescription_of(UUID(k), v)
            for k, v in data["x"].items()
        },
    )


def _fields_of(data: Mapping[str, Any]) -> ProgramFields:
    source = data["src"]
    return ProgramFields(
        data["n"],
        data["w"],
        tuple((week, label) for week, label in data["l"]),
        None if data["d"] is None else date.fromisoformat(data["d"]),
        None if source is None else ProgramSource(UUID(source[0]), source[1]),
        tuple(UUID(session_id) for session_id in data["o"]),
        frozenset(UUID(origin) for origin in data["r"]),
    )


def _session_of(session_id: UUID, data: Mapping[str, Any]) -> Session:
    groups = [
        ExerciseGroup(
            UUID(group_id),
            [_exercise_of(exercise) for exercise in exercises],
            GroupSettings.of_values(settings),
            _uuid(origin),
        )
        for group_id, origin, settings, exercises in data["g"]
    ]
    return Session(
        session_id,
        data["n"],
        groups,
        data["d"],
        {week: date.fromisoformat(day) for week, day in data["r"]},
        _uuid(data["o"]),
        data["c"],
    )


def _exercise_of(data: list[Any]) -> ProgramExercise:
    exercise_id, catalog_id, name, notes, alternatives, progression, warmup, origin = data
    return ProgramExercise(
        UUID(exercise_id),
        UUID(catalog_id),
        name,
        notes,
        tuple(Alternative.model_validate(a, strict=False) for a in alternatives),
        None if progression is None else _PROGRESSION.validate_python(progression, strict=False),
        None if warmup is None else Warmup.model_validate(warmup, strict=False),
        _uuid(origin),
    )


def _prescription_of(prescription_id: UUID, data: list[Any]) -> Prescription:
    exercise_id, week, version, series = data
    return Prescription(prescription_id, UUID(exercise_id), week, version, tuple(series))
