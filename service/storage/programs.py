"""The program aggregate in PostgreSQL: lock and load programs, write back what commands changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
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


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # as PostgreSQL names it

    @property
    def json(self) -> bool:
        return self.type == "jsonb"


@dataclass(frozen=True)
class Table:
    """A table as this module writes it, its columns in the order its row builder gives the
    values. Its statements are rendered from it once, on first use (`print(PROGRAMS.bulk)`).

    On a conflict with the key, an upsert updates every other column but the `kept` ones, and
    sets `touch` too. The bulk insert takes one array per column, the jsonb ones as JSON text
    cast back in its SELECT: asyncpg would take a list value for an array dimension."""

    name: str
    columns: tuple[Column, ...]
    kept: tuple[str, ...] = ()
    touch: str = ""
    key: str = "id"

    @classmethod
    def of(cls, name: str, columns: str, kept: tuple[str, ...] = (), touch: str = "") -> Table:
        """`columns` as in CREATE TABLE: `name type`, comma-separated."""
        return cls(
            name, tuple(Column(*column.split()) for column in columns.split(",")), kept, touch
        )

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @cached_property
    def json_columns(self) -> tuple[int, ...]:
        return tuple(at for at, column in enumerate(self.columns) if column.json)

    @cached_property
    def select(self) -> str:
        return f"{_wrapped('SELECT ', self.names, '       ')}\nFROM {self.name}"

    @cached_property
    def insert(self) -> str:
        values = _wrapped("VALUES (", (f"${at}" for at in range(1, len(self.columns) + 1)), "", ")")
        return f"{self._into}{values}\n"

    @cached_property
    def upsert(self) -> str:
        updated = [f"{n} = EXCLUDED.{n}" for n in self.names if n not in (self.key, *self.kept)]
        assignments = _wrapped("SET ", [*updated, self.touch] if self.touch else updated, "    ")
        return f"{self.insert}ON CONFLICT ({self.key}) DO UPDATE\n{assignments}\n"

    @cached_property
    def bulk(self) -> str:
        values = (f"{c.name}::jsonb" if c.json else c.name for c in self.columns)
        arrays = (
            f"${at}::{'text' if c.json else c.type}[]" for at, c in enumerate(self.columns, 1)
        )
        return (
            f"{self._into}{_wrapped('SELECT ', values, '       ')}\n"
            f"{_wrapped('FROM unnest(', arrays, ' ' * 12, ')')}\n"
            f"{_wrapped('     AS row (', self.names, ' ' * 13, ')')}\n"
        )

    @cached_property
    def _into(self) -> str:
        return f"\nINSERT INTO {self.name}\n{_wrapped('    (', self.names, '     ', ')')}\n"


def _wrapped(head: str, items: Iterable[str], indent: str, tail: str = "") -> str:
    """`head`, the items comma-separated in lines of at most 97 characters (each further one
    starting with `indent`), then `tail` (of one character at most)."""
    text, line = "", head
    for at, item in enumerate(items):
        if at and len(line) + len(item) + 2 > 96:
            text, line = f"{text}{line},\n", indent + item
        else:
            line += f", {item}" if at else item
    return text + line + tail


PROGRAMS = Table.of(
    "programs",
    "id uuid, tenant_id text, name text, weeks integer, version bigint, week_labels jsonb,"
    " source_program_id uuid, source_program_version bigint, athlete jsonb, start_date date,"
    " removed_origins jsonb, origins_known boolean",
    # A program's tenant never changes, and `origins_known` only in migration 0008's recovery.
    kept=("tenant_id", "origins_known"),
    touch="updated_at = now()",
)


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


SESSIONS = Table.of(
    "sessions",
    "id uuid, program_id uuid, name text, order_index integer, day_offset smallint,"
    " rescheduled jsonb, origin_id uuid, customised boolean",
)


def _session_row(program_id: UUID, order_index: int, session: Session) -> tuple[object, ...]:
    return (
        session.id,
        program_id,
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


GROUPS = Table.of(
    "exercise_groups",
    "id uuid, program_id uuid, session_id uuid, order_index integer, rounds integer,"
    " rest_between_rounds_seconds integer, notes text, format text, time_cap_seconds integer,"
    " interval_seconds integer, interval_rest_seconds integer, origin_id uuid",
)


def _group_row(
    program_id: UUID, session_id: UUID, order_index: int, group: ExerciseGroup
) -> tuple[object, ...]:
    return (group.id, program_id, session_id, order_index, *group.settings.values(), group.origin)


EXERCISES = Table.of(
    "program_exercises",
    "id uuid, program_id uuid, session_id uuid, group_id uuid, order_within_group integer,"
    " exercise_id uuid, name text, notes text, alternatives jsonb, progression jsonb,"
    " warmup jsonb, origin_id uuid",
)


def _exercise_row(
    program_id: UUID, session_id: UUID, group_id: UUID, index: int, exercise: ProgramExercise
) -> tuple[object, ...]:
    return (
        exercise.id,
        program_id,
        session_id,
        group_id,
        index,
        exercise.exercise_id,
        exercise.name,
        exercise.notes,
        [a.to_wire() for a in exercise.alternatives],
        None if exercise.progression is None else exercise.progression.to_wire(),
        None if exercise.warmup is None else exercise.warmup.to_wire(),
        exercise.origin,
    )


PRESCRIPTIONS = Table.of(
    "prescriptions",
    "id uuid, program_id uuid, program_exercise_id uuid, week integer, version bigint,"
    " series jsonb",
)


def _prescription_row(
    program_id: UUID, exercise_id: UUID, week: int, prescription: Prescription
) -> tuple[object, ...]:
    return (
        prescription.id,
        program_id,
        exercise_id,
        week,
        prescription.version,
        list(prescription.series),
    )


TABLES = (PROGRAMS, SESSIONS, GROUPS, EXERCISES, PRESCRIPTIONS)

BULK_ROWS = 8
"""From this many rows on, new rows go in one `unnest` statement; fewer are executed row by row
(the statement a single edit uses, already prepared)."""

_LOCK_PROGRAMS = f"""
{PROGRAMS.select} WHERE id = ANY($1::uuid[])
ORDER BY id
FOR UPDATE
"""
# The source of each copy a sync names: locked with the batch's programs, in id order.
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
_PRESCRIPTIONS_OF_EXERCISES = f"{PRESCRIPTIONS.select} WHERE program_exercise_id = ANY($1::uuid[])"
_PRESCRIPTIONS_OF_PROGRAMS = f"{PRESCRIPTIONS.select} WHERE program_id = ANY($1::uuid[])"
_TAKEN_IDS = """
SELECT id FROM programs WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM deleted_programs WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM sessions WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM exercise_groups WHERE id = ANY($1::uuid[])
UNION ALL SELECT id FROM program_exercises WHERE id = ANY($1::uuid[])
"""

_DELETE_PROGRAMS = "DELETE FROM programs WHERE id = ANY($1::uuid[])"
_REMEMBER_DELETED = """
INSERT INTO deleted_programs (id, tenant_id)
SELECT * FROM unnest($1::uuid[], $2::text[])
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
    undos: list[tuple[UUID, Undo]] = field(default_factory=list)  # the kept versions

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
        them is only I/O (see `apply.processor`: a batch builds them while the one before it
        commits). Deletions come before the prescription upserts: a week re-created gets a new
        id and the same (exercise, week)."""
        if not self.programs:
            return []
        live = [p for p in self.programs.values() if not p.deleted]
        sessions, groups, exercises = self._structure_rows()
        return [
            *_upserted(PROGRAMS, [_program_row(p) for p in live], self.stored),
            *_upserted(SESSIONS, sessions, self.stored),
            *_upserted(GROUPS, groups, self.stored),
            *_upserted(EXERCISES, exercises, self.stored),
            *self._deletions(_ids(sessions), _ids(groups), _ids(exercises)),
            *self._prescription_writes(),
            *history.writing(
                (program_id, undo)
                for program_id, undo in self.undos
                if not self.programs[program_id].deleted
            ),
            *self._program_deletions(),
        ]

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
            row = _prescription_row(program_id, exercise_id, week, prescription)
            (known if exercise_id in self.stored else new).append(row)
        writes: list[Write] = [_many(PRESCRIPTIONS.upsert, known)] if known else []
        # Few new rows go through the upsert too: the statement every series edit has prepared.
        return writes + _insert(PRESCRIPTIONS, new, PRESCRIPTIONS.upsert)

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
                sessions.append(_session_row(program.id, order_index, session))
                for group_index, group in enumerate(session.groups):
                    groups.append(_group_row(program.id, session.id, group_index, group))
                    for index, exercise in enumerate(group.exercises):
                        exercises.append(
                            _exercise_row(program.id, session.id, group.id, index, exercise)
                        )
        return sessions, groups, exercises


def _ids(rows: list[tuple[object, ...]]) -> set[UUID]:
    """The ids of rows built by `_structure_rows` (the id first)."""
    return {cast(UUID, row[0]) for row in rows}


def _upserted(table: Table, rows: list[tuple[object, ...]], stored: set[UUID]) -> list[Write]:
    """`rows` (id first) written: upserted when stored, inserted (in bulk when many) when new.

    A new row is inserted without ON CONFLICT: an id that another program took meanwhile
    (another instance, an earlier command of the same batch, or, for a program created here, a
    copy that travelled on another key) then fails the transaction with a unique violation
    instead of overwriting that row."""
    writes: list[Write] = []
    known = [row for row in rows if row[0] in stored]
    if known:
        writes.append(_many(table.upsert, known))
    return writes + _insert(table, [row for row in rows if row[0] not in stored])


def _insert(table: Table, rows: list[tuple[object, ...]], one: str = "") -> list[Write]:
    """New rows: from `BULK_ROWS` on in one `unnest` statement (`table.bulk`, one array per
    column, the jsonb ones as JSON text, null kept), else row by row with `one` (by default
    `table.insert`)."""
    if len(rows) >= BULK_ROWS:
        columns: list[list[object]] = [list(column) for column in zip(*rows, strict=True)]
        for at in table.json_columns:
            columns[at] = [
                None if value is None else dumps(value).decode() for value in columns[at]
            ]
        return [_execute(table.bulk, *columns)]
    if rows:
        return [_many(one or table.insert, rows)]
    return []
