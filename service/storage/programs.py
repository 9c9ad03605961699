"""The program aggregate in PostgreSQL: lock and load programs, write back what commands changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from contracts.athletes import Athlete
from contracts.exercises import Alternative, Progression, Warmup
from contracts.groups import GroupFormat
from service.domain.changes import Changes
from service.domain.history import Undo
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
)
from service.encoding import dumps
from service.storage import history
from service.storage.database import Connection, Write
from service.storage.database import execute_many as _many
from service.storage.database import execute_one as _execute

PROGRESSION: TypeAdapter[Progression] = TypeAdapter(Progression)

_LOCK_PROGRAMS = """
SELECT id, tenant_id, name, weeks, version, week_labels, source_program_id,
       source_program_version, athlete, start_date, removed_origins, origins_known
FROM programs WHERE id = ANY($1::uuid[])
ORDER BY id
FOR UPDATE
"""
# (v1.3) The source of each copy a sync names: locked with the batch's programs, in id order.
_SOURCES = """
SELECT DISTINCT source_program_id FROM programs
WHERE id = ANY($1::uuid[]) AND source_program_id IS NOT NULL
"""
# The structure of the locked programs in one round trip, one row per session, group and
# exercise (`kind` says which). A statement of its own, after the lock: under READ COMMITTED its
# snapshot then includes whatever the previous holder of the lock committed.
_STRUCTURE = """
SELECT 's' AS kind, id, program_id AS parent, order_index, name, NULL::uuid AS exercise_id,
       NULL::integer AS rounds, NULL::integer AS rest, NULL::text AS notes, NULL::text AS format,
       NULL::integer AS time_cap, NULL::integer AS interval, NULL::integer AS interval_rest,
       NULL::jsonb AS alternatives, NULL::jsonb AS progression, day_offset::integer,
       rescheduled, NULL::jsonb AS warmup, origin_id, customised
FROM sessions WHERE program_id = ANY($1::uuid[])
UNION ALL
SELECT 'g', id, session_id, order_index, NULL, NULL, rounds, rest_between_rounds_seconds, notes,
       format, time_cap_seconds, interval_seconds, interval_rest_seconds, NULL, NULL, NULL, NULL,
       NULL, origin_id, NULL
FROM exercise_groups WHERE program_id = ANY($1::uuid[])
UNION ALL
SELECT 'e', id, group_id, order_within_group, name, exercise_id, NULL, NULL, notes, NULL, NULL,
       NULL, NULL, alternatives, progression, NULL, NULL, warmup, origin_id, NULL
FROM program_exercises WHERE program_id = ANY($1::uuid[])
"""
_PRESCRIPTIONS_OF_EXERCISES = """
SELECT id, program_id, program_exercise_id, week, version, series
FROM prescriptions WHERE program_exercise_id = ANY($1::uuid[])
"""
_PRESCRIPTIONS_OF_PROGRAMS = """
SELECT id, program_id, program_exercise_id, week, version, series
FROM prescriptions WHERE program_id = ANY($1::uuid[])
"""
_TAKEN_IDS = """
SELECT id FROM programs WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM deleted_programs WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM sessions WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM exercise_groups WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM program_exercises WHERE id = ANY($1::uuid[])
"""

_UPSERT_PROGRAM = """
INSERT INTO programs
    (id, tenant_id, name, weeks, version, week_labels, source_program_id, source_program_version,
     athlete, start_date, removed_origins, origins_known)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, weeks = EXCLUDED.weeks, version = EXCLUDED.version,
    week_labels = EXCLUDED.week_labels, athlete = EXCLUDED.athlete,
    start_date = EXCLUDED.start_date, source_program_id = EXCLUDED.source_program_id,
    source_program_version = EXCLUDED.source_program_version,
    removed_origins = EXCLUDED.removed_origins, updated_at = now()
"""
# A program created by this transaction (create, import, copy): an id that another command
# took meanwhile (a copy travels on another key, so another instance may) is then a conflict.
_INSERT_PROGRAM = """
INSERT INTO programs
    (id, tenant_id, name, weeks, version, week_labels, source_program_id, source_program_version,
     athlete, start_date, removed_origins, origins_known)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_DELETE_PROGRAMS = "DELETE FROM programs WHERE id = ANY($1::uuid[])"
_REMEMBER_DELETED = """
INSERT INTO deleted_programs (id, tenant_id)
SELECT * FROM unnest($1::uuid[], $2::text[])
"""
_UPSERT_SESSION = """
INSERT INTO sessions
    (id, program_id, name, order_index, day_offset, rescheduled, origin_id, customised)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE
SET program_id = EXCLUDED.program_id, name = EXCLUDED.name, order_index = EXCLUDED.order_index,
    day_offset = EXCLUDED.day_offset,
    rescheduled = EXCLUDED.rescheduled, origin_id = EXCLUDED.origin_id,
    customised = EXCLUDED.customised
"""
_UPSERT_GROUP = """
INSERT INTO exercise_groups
    (id, program_id, session_id, order_index, rounds, rest_between_rounds_seconds, notes,
     format, time_cap_seconds, interval_seconds, interval_rest_seconds, origin_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE
SET program_id = EXCLUDED.program_id, session_id = EXCLUDED.session_id,
    order_index = EXCLUDED.order_index, rounds = EXCLUDED.rounds,
    rest_between_rounds_seconds = EXCLUDED.rest_between_rounds_seconds,
    notes = EXCLUDED.notes, format = EXCLUDED.format,
    time_cap_seconds = EXCLUDED.time_cap_seconds, interval_seconds = EXCLUDED.interval_seconds,
    interval_rest_seconds = EXCLUDED.interval_rest_seconds, origin_id = EXCLUDED.origin_id
"""
_UPSERT_EXERCISE = """
INSERT INTO program_exercises
    (id, program_id, session_id, group_id, order_within_group, exercise_id, name, notes,
     alternatives, progression, warmup, origin_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE
SET program_id = EXCLUDED.program_id, session_id = EXCLUDED.session_id,
    group_id = EXCLUDED.group_id,
    order_within_group = EXCLUDED.order_within_group, exercise_id = EXCLUDED.exercise_id,
    name = EXCLUDED.name, notes = EXCLUDED.notes, alternatives = EXCLUDED.alternatives,
    progression = EXCLUDED.progression, warmup = EXCLUDED.warmup, origin_id = EXCLUDED.origin_id
"""
# Rows of sessions, groups and exercises that were not loaded are inserted without ON CONFLICT:
# an id that another program took meanwhile (another instance, or an earlier command of the same
# batch) then fails the transaction with a unique violation instead of overwriting that row.
_INSERT_SESSION = """
INSERT INTO sessions
    (id, program_id, name, order_index, day_offset, rescheduled, origin_id, customised)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_INSERT_GROUP = """
INSERT INTO exercise_groups
    (id, program_id, session_id, order_index, rounds, rest_between_rounds_seconds, notes,
     format, time_cap_seconds, interval_seconds, interval_rest_seconds, origin_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_INSERT_EXERCISE = """
INSERT INTO program_exercises
    (id, program_id, session_id, group_id, order_within_group, exercise_id, name, notes,
     alternatives, progression, warmup, origin_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
# The rows of many new entities at once (a batch of imports creates thousands): one statement per
# table, the rows as one array per column, instead of one execution per row.
# (jsonb columns travel as JSON text: asyncpg would take a list value for an array dimension)
_INSERT_PROGRAMS = """
INSERT INTO programs
    (id, tenant_id, name, weeks, version, week_labels, source_program_id, source_program_version,
     athlete, start_date, removed_origins, origins_known)
SELECT id, tenant_id, name, weeks, version, week_labels::jsonb, source_id, source_version,
       athlete::jsonb, start_date, removed_origins::jsonb, origins_known
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::text[],
            $7::uuid[], $8::bigint[], $9::text[], $10::date[], $11::text[], $12::boolean[])
     AS row (id, tenant_id, name, weeks, version, week_labels, source_id, source_version, athlete,
             start_date, removed_origins, origins_known)
"""
_PROGRAM_JSON_COLUMNS = (5, 8, 10)
_INSERT_SESSIONS = """
INSERT INTO sessions
    (id, program_id, name, order_index, day_offset, rescheduled, origin_id, customised)
SELECT id, program_id, name, order_index, day_offset, rescheduled::jsonb, origin_id, customised
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::smallint[], $6::text[],
            $7::uuid[], $8::boolean[])
     AS row (id, program_id, name, order_index, day_offset, rescheduled, origin_id, customised)
"""
_SESSION_JSON_COLUMNS = (5,)
_INSERT_GROUPS = """
INSERT INTO exercise_groups
    (id, program_id, session_id, order_index, rounds, rest_between_rounds_seconds, notes,
     format, time_cap_seconds, interval_seconds, interval_rest_seconds, origin_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::integer[], $5::integer[],
                     $6::integer[], $7::text[], $8::text[], $9::integer[], $10::integer[],
                     $11::integer[], $12::uuid[])
"""
_INSERT_EXERCISES = """
INSERT INTO program_exercises
    (id, program_id, session_id, group_id, order_within_group, exercise_id, name, notes,
     alternatives, progression, warmup, origin_id)
SELECT id, program_id, session_id, group_id, order_within_group, exercise_id, name, notes,
       alternatives::jsonb, progression::jsonb, warmup::jsonb, origin_id
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::integer[], $6::uuid[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[])
     AS row (id, program_id, session_id, group_id, order_within_group, exercise_id, name, notes,
             alternatives, progression, warmup, origin_id)
"""
_EXERCISE_JSON_COLUMNS = (8, 9, 10)
_INSERT_PRESCRIPTIONS = """
INSERT INTO prescriptions (id, program_id, program_exercise_id, week, version, series)
SELECT id, program_id, program_exercise_id, week, version, series::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::integer[], $5::bigint[], $6::text[])
     AS row (id, program_id, program_exercise_id, week, version, series)
"""
_PRESCRIPTION_JSON_COLUMNS = (5,)
BULK_ROWS = 8
"""From this many rows on, new rows go in one `unnest` statement; fewer are executed row by row
(the statement a single edit uses, already prepared)."""

_UPSERT_PRESCRIPTION = """
INSERT INTO prescriptions (id, program_id, program_exercise_id, week, version, series)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE
SET program_id = EXCLUDED.program_id, program_exercise_id = EXCLUDED.program_exercise_id,
    week = EXCLUDED.week, version = EXCLUDED.version, series = EXCLUDED.series
"""
_DELETE_PRESCRIPTIONS = "DELETE FROM prescriptions WHERE id = ANY($1::uuid[])"
_DELETE_EXERCISES = "DELETE FROM program_exercises WHERE id = ANY($1::uuid[])"
_DELETE_GROUPS = "DELETE FROM exercise_groups WHERE id = ANY($1::uuid[])"
_DELETE_SESSIONS = "DELETE FROM sessions WHERE id = ANY($1::uuid[])"


async def sources_of(connection: Connection, copy_ids: Iterable[UUID]) -> set[UUID]:
    """The programs these copies were made from (a copy's source never changes)."""
    rows = await connection.fetch(_SOURCES, list(set(copy_ids)))
    return {row["source_program_id"] for row in rows}


async def lock_and_load(connection: Connection, program_ids: Iterable[UUID]) -> dict[UUID, Program]:
    """Lock the programs (in id order, so concurrent instances cannot deadlock) and load their
    structure. Prescriptions are loaded on demand with `load_prescriptions`."""
    ids = sorted(set(program_ids))
    programs = {row["id"]: _program_of(row) for row in await connection.fetch(_LOCK_PROGRAMS, ids)}
    if programs:
        _assemble(programs, await connection.fetch(_STRUCTURE, list(programs)))
    return programs


def _program_of(row: asyncpg.Record) -> Program:
    """A locked program row, without its sessions yet."""
    return Program(
        row["id"],
        row["tenant_id"],
        row["name"],
        row["weeks"],
        row["version"],
        week_labels={label["week"]: label["label"] for label in row["week_labels"]},
        source=None
        if row["source_program_id"] is None
        else ProgramSource(row["source_program_id"], row["source_program_version"]),
        athlete=None
        if row["athlete"] is None
        else Athlete.model_validate(row["athlete"], strict=False),
        start_date=row["start_date"],
        removed_origins=frozenset(UUID(origin) for origin in row["removed_origins"]),
        origins_known=row["origins_known"],
    )


def _session_of(row: asyncpg.Record) -> Session:
    """A session row of `_STRUCTURE` (kind `s`), without its groups yet."""
    rescheduled = {moved["week"]: date.fromisoformat(moved["date"]) for moved in row["rescheduled"]}
    return Session(
        row["id"],
        row["name"],
        [],
        row["day_offset"],
        rescheduled,
        row["origin_id"],
        row["customised"],
    )


def _group_of(row: asyncpg.Record) -> ExerciseGroup:
    """A group row of `_STRUCTURE` (kind `g`), without its exercises yet."""
    settings = GroupSettings(
        row["rounds"],
        row["rest"],
        row["notes"],
        GroupFormat(row["format"]),
        row["time_cap"],
        row["interval"],
        row["interval_rest"],
    )
    return ExerciseGroup(row["id"], [], settings, row["origin_id"])


def _exercise_of(row: asyncpg.Record) -> ProgramExercise:
    """An exercise row of `_STRUCTURE` (kind `e`)."""
    return ProgramExercise(
        row["id"],
        row["exercise_id"],
        row["name"],
        row["notes"],
        tuple(Alternative.model_validate(a, strict=False) for a in row["alternatives"]),
        None
        if row["progression"] is None
        else PROGRESSION.validate_python(row["progression"], strict=False),
        None if row["warmup"] is None else Warmup.model_validate(row["warmup"], strict=False),
        row["origin_id"],
    )


Entity = Session | ExerciseGroup | ProgramExercise


def _assemble(programs: dict[UUID, Program], rows: Iterable[asyncpg.Record]) -> None:
    """Put each session, group and exercise of `_STRUCTURE`'s rows in its parent, in order."""
    children: dict[UUID, list[tuple[int, Entity]]] = {}
    made: dict[str, Callable[[asyncpg.Record], Entity]] = {
        "s": _session_of,
        "g": _group_of,
        "e": _exercise_of,
    }
    for row in rows:
        entity = made[row["kind"]](row)
        children.setdefault(row["parent"], []).append((row["order_index"], entity))

    def ordered(parent: UUID) -> list[Any]:
        return [child for _, child in sorted(children.get(parent, []), key=_first)]

    for program in programs.values():
        program.sessions = ordered(program.id)
        for session in program.sessions:
            session.groups = ordered(session.id)
            for group in session.groups:
                group.exercises = ordered(group.id)


def _program_row(program: Program) -> tuple[object, ...]:
    source = program.source
    return (
        program.id,
        program.tenant_id,
        program.name,
        program.weeks,
        program.version,
        [{"week": w, "label": label} for w, label in sorted(program.week_labels.items())],
        source.program_id if source else None,
        source.program_version if source else None,
        None if program.athlete is None else program.athlete.to_wire(),
        program.start_date,
        sorted(str(origin) for origin in program.removed_origins),
        program.origins_known,
    )


def stored_ids(programs: dict[UUID, Program]) -> set[UUID]:
    """The ids of these (just loaded) programs and of their sessions, groups and exercises."""
    found: set[UUID] = set(programs)
    for program in programs.values():
        for session in program.sessions:
            found.update(session.entity_ids())
    return found


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


async def load_prescriptions(
    connection: Connection,
    programs: dict[UUID, Program],
    exercise_ids: Iterable[UUID] = (),
    whole_programs: Iterable[UUID] = (),
) -> None:
    """Load the prescriptions of these exercises (or of every exercise of whole programs) into
    their aggregates; exercises already loaded keep their in-memory (possibly newer) state."""
    wanted = set(exercise_ids)
    whole = set(whole_programs)
    newly: set[UUID] = set()
    by_exercise: list[UUID] = []  # newly loaded exercises of programs not loaded whole
    for program in programs.values():
        if program.id not in whole and not wanted:
            continue
        present = program.exercise_ids()
        targets = present if program.id in whole else present & wanted
        for exercise_id in targets - program.loaded:
            program.loaded.add(exercise_id)
            program.prescriptions[exercise_id] = {}
            newly.add(exercise_id)
            if program.id not in whole:
                by_exercise.append(exercise_id)
    if not newly:
        return
    rows: list[asyncpg.Record] = []
    if whole:
        rows += await connection.fetch(_PRESCRIPTIONS_OF_PROGRAMS, list(whole))
    if by_exercise:
        rows += await connection.fetch(_PRESCRIPTIONS_OF_EXERCISES, by_exercise)
    for row in rows:
        exercise_id = row["program_exercise_id"]
        if exercise_id in newly:
            programs[row["program_id"]].prescriptions[exercise_id][row["week"]] = Prescription(
                row["id"], exercise_id, row["week"], row["version"], tuple(row["series"])
            )


_HELD_ELSEWHERE = """
SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND program_id <> $2
UNION ALL SELECT id FROM exercise_groups WHERE id = ANY($1::uuid[]) AND program_id <> $2
UNION ALL SELECT id FROM program_exercises WHERE id = ANY($1::uuid[]) AND program_id <> $2
"""


async def held_elsewhere(
    connection: Connection, candidates: Iterable[UUID], program_id: UUID
) -> set[UUID]:
    """Which of these session, group or program exercise ids a program other than
    `program_id` holds."""
    wanted = list(set(candidates))
    if not wanted:
        return set()
    return {row["id"] for row in await connection.fetch(_HELD_ELSEWHERE, wanted, program_id)}


async def taken_ids(connection: Connection, candidates: Iterable[UUID]) -> set[UUID]:
    """Which of these ids a session, group or program exercise already uses (in any program)."""
    wanted = list(set(candidates))
    if not wanted:
        return set()
    return {row["id"] for row in await connection.fetch(_TAKEN_IDS, wanted)}


@dataclass(slots=True)
class PendingWrites:
    """What a transaction's commands changed, accumulated per program and written once."""

    stored: set[UUID]  # the session, group and exercise ids as loaded (`stored_ids`)
    programs: dict[UUID, Program] = field(default_factory=dict)
    sessions: dict[UUID, UUID] = field(default_factory=dict)  # session -> program
    deleted_sessions: set[UUID] = field(default_factory=set)
    deleted_groups: set[UUID] = field(default_factory=set)
    deleted_exercises: set[UUID] = field(default_factory=set)
    prescriptions: dict[tuple[UUID, int], UUID] = field(default_factory=dict)  # -> program
    deleted_prescriptions: set[UUID] = field(default_factory=set)
    undos: list[tuple[UUID, Undo]] = field(default_factory=list)  # (v1.3) the kept versions

    def add(self, program: Program, changes: Changes, undo: Undo | None = None) -> None:
        self.programs[program.id] = program
        if undo is not None:
            self.undos.append((program.id, undo))
        for session_id in changes.sessions:
            self.sessions[session_id] = program.id
        self.deleted_sessions |= set(changes.deleted_sessions)
        self.deleted_groups |= changes.deleted_groups
        self.deleted_exercises |= changes.deleted_exercises
        for key in changes.announced:
            self.prescriptions[key] = program.id
        self.deleted_prescriptions |= set(changes.deleted_prescriptions)

    def plan(self) -> list[Write]:
        """The statements that write these changes, in order, their rows built now: running
        them is only I/O (see `handling`: a batch builds them while the one before it commits).
        Deletions come before the prescription upserts: a week re-created gets a new id and the
        same (exercise, week)."""
        if not self.programs:
            return []
        sessions, groups, exercises = self._structure_rows()
        return [
            *self._program_writes(),
            *_upserted(_SESSION_STATEMENTS, sessions, self.stored),
            *_upserted(_GROUP_STATEMENTS, groups, self.stored),
            *_upserted(_EXERCISE_STATEMENTS, exercises, self.stored),
            *self._deletions(_ids(sessions), _ids(groups), _ids(exercises)),
            *self._prescription_writes(),
            *history.writing(
                (program_id, undo)
                for program_id, undo in self.undos
                if not self.programs[program_id].deleted
            ),
            *self._program_deletions(),
        ]

    def _program_writes(self) -> list[Write]:
        """The rows of the live programs: upserted when stored, inserted when new."""
        live = [p for p in self.programs.values() if not p.deleted]
        writes: list[Write] = []
        known = [_program_row(p) for p in live if p.id in self.stored]
        if known:
            writes.append(_many(_UPSERT_PROGRAM, known))
        new = [_program_row(p) for p in live if p.id not in self.stored]
        return writes + _insert(_INSERT_PROGRAM, _INSERT_PROGRAMS, new, _PROGRAM_JSON_COLUMNS)

    def _deletions(
        self, sessions: set[UUID], groups: set[UUID], exercises: set[UUID]
    ) -> list[Write]:
        """What the commands deleted, but for the entities written again (moved or re-created
        in the same transaction)."""
        writes: list[Write] = []
        for statement, ids in (
            (_DELETE_PRESCRIPTIONS, self.deleted_prescriptions),
            (_DELETE_EXERCISES, self.deleted_exercises - exercises),
            (_DELETE_GROUPS, self.deleted_groups - groups),
            (_DELETE_SESSIONS, self.deleted_sessions - sessions),
        ):
            if ids:
                writes.append(_execute(statement, list(ids)))
        return writes

    def _prescription_writes(self) -> list[Write]:
        """The announced prescriptions: upserted, or (those of exercises this transaction
        created, none of which can be stored yet) inserted in bulk."""
        known: list[tuple[object, ...]] = []
        new: list[tuple[object, ...]] = []
        for (exercise_id, week), program_id in self.prescriptions.items():
            prescription = self.programs[program_id].prescriptions.get(exercise_id, {}).get(week)
            if prescription is None:
                continue
            row = (
                prescription.id,
                program_id,
                exercise_id,
                week,
                prescription.version,
                list(prescription.series),
            )
            (known if exercise_id in self.stored else new).append(row)
        writes: list[Write] = [_many(_UPSERT_PRESCRIPTION, known)] if known else []
        return writes + _insert(
            _UPSERT_PRESCRIPTION, _INSERT_PRESCRIPTIONS, new, _PRESCRIPTION_JSON_COLUMNS
        )

    def _program_deletions(self) -> list[Write]:
        """Deleted programs: everything of theirs goes with them (ON DELETE CASCADE); their ids
        stay taken."""
        gone = [p for p in self.programs.values() if p.deleted]
        if not gone:
            return []
        return [
            _execute(_DELETE_PROGRAMS, [p.id for p in gone]),
            _execute(_REMEMBER_DELETED, [p.id for p in gone], [p.tenant_id for p in gone]),
        ]

    def _structure_rows(
        self,
    ) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
        sessions: list[tuple[object, ...]] = []
        groups: list[tuple[object, ...]] = []
        exercises: list[tuple[object, ...]] = []
        wanted = set(self.sessions)
        for program_id in set(self.sessions.values()):
            program = self.programs[program_id]
            for order_index, session in enumerate(program.sessions):
                if session.id not in wanted:
                    continue
                sessions.append(
                    (
                        session.id,
                        program.id,
                        session.name,
                        order_index,
                        session.day_offset,
                        [
                            {"week": week, "date": day.isoformat()}
                            for week, day in sorted(session.rescheduled.items())
                        ],
                        session.origin,
                        session.customised,
                    )
                )
                for group_index, group in enumerate(session.groups):
                    groups.append(
                        (
                            group.id,
                            program.id,
                            session.id,
                            group_index,
                            *group.settings.values(),
                            group.origin,
                        )
                    )
                    for index, exercise in enumerate(group.exercises):
                        exercises.append(
                            (
                                exercise.id,
                                program.id,
                                session.id,
                                group.id,
                                index,
                                exercise.exercise_id,
                                exercise.name,
                                exercise.notes,
                                [a.to_wire() for a in exercise.alternatives],
                                None
                                if exercise.progression is None
                                else exercise.progression.to_wire(),
                                None if exercise.warmup is None else exercise.warmup.to_wire(),
                                exercise.origin,
                            )
                        )
        return sessions, groups, exercises


@dataclass(frozen=True, slots=True)
class _Statements:
    """How rows of one table are written: one stored row (`upsert`), one new row (`insert`),
    many new rows (`bulk`, its jsonb columns at `json_columns` sent as JSON text)."""

    upsert: str
    insert: str
    bulk: str
    json_columns: tuple[int, ...] = ()


_SESSION_STATEMENTS = _Statements(
    _UPSERT_SESSION, _INSERT_SESSION, _INSERT_SESSIONS, _SESSION_JSON_COLUMNS
)
_GROUP_STATEMENTS = _Statements(_UPSERT_GROUP, _INSERT_GROUP, _INSERT_GROUPS)
_EXERCISE_STATEMENTS = _Statements(
    _UPSERT_EXERCISE, _INSERT_EXERCISE, _INSERT_EXERCISES, _EXERCISE_JSON_COLUMNS
)


def _ids(rows: list[tuple[object, ...]]) -> set[UUID]:
    """The ids of rows built by `_structure_rows` (the id first)."""
    return {cast(UUID, row[0]) for row in rows}


def _upserted(
    statements: _Statements, rows: list[tuple[object, ...]], stored: set[UUID]
) -> list[Write]:
    """`rows` (id first) written: upserted when stored, inserted (in bulk when many) when new."""
    writes: list[Write] = []
    known = [row for row in rows if row[0] in stored]
    if known:
        writes.append(_many(statements.upsert, known))
    new = [row for row in rows if row[0] not in stored]
    return writes + _insert(statements.insert, statements.bulk, new, statements.json_columns)


def _insert(
    one: str,
    bulk: str,
    rows: list[tuple[object, ...]],
    json_columns: tuple[int, ...],
) -> list[Write]:
    """New rows: in one `unnest` statement (`bulk`, one array per column, the jsonb ones at
    `json_columns` as JSON text, null kept) from `BULK_ROWS` on, else row by row with `one`."""
    if len(rows) >= BULK_ROWS:
        columns: list[list[object]] = [list(column) for column in zip(*rows, strict=True)]
        for at in json_columns:
            columns[at] = [
                None if value is None else dumps(value).decode() for value in columns[at]
            ]
        return [_execute(bulk, *columns)]
    if rows:
        return [_many(one, rows)]
    return []
