"""A program's last versions (`program.revert`), kept as what each command changed.

Each versioned command leaves an `Undo`: the program's own fields, every session it touched
(whole: groups and exercises with it) and every prescription it changed, as they were at the
version before it, or None where the entity did not exist then. A version is the current state
with the undos of every later version laid over it, newest first (`state_at`). What a command
did not touch is not written again, so a program's versions share it; a creation writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from uuid import UUID

from service.domain.changes import Changes
from service.domain.model import Prescription, Program, ProgramSource, Session


@dataclass(frozen=True, slots=True)
class ProgramFields:
    """A program's own state at one version (without its athlete, which a revert keeps)."""

    name: str
    weeks: int
    week_labels: tuple[tuple[int, str], ...]
    start_date: date | None
    source: ProgramSource | None
    session_ids: tuple[UUID, ...]
    removed_origins: frozenset[UUID]

    @classmethod
    def of(cls, program: Program) -> ProgramFields:
        return cls(
            program.name,
            program.weeks,
            tuple(sorted(program.week_labels.items())),
            program.start_date,
            program.source,
            tuple(session.id for session in program.sessions),
            program.removed_origins,
        )


@dataclass(frozen=True, slots=True)
class Undo:
    """What leads from `version` back to `version - 1`; `program` None: the command left the
    program's own fields as they were (most edits: they announce no `program.updated`)."""

    version: int
    program: ProgramFields | None
    sessions: Mapping[UUID, Session | None]
    prescriptions: Mapping[UUID, Prescription | None]


def undo_of(before: Program, after: Program, changes: Changes) -> Undo:
    """The undo of the command that led from `before` to `after` (announced: `changes.announced`
    holds every prescription it wrote). `before` is never changed afterwards."""
    before_sessions = {session.id: session for session in before.sessions}
    sessions = {
        session_id: before_sessions.get(session_id)
        for session_id in (*changes.sessions, *changes.deleted_sessions)
    }
    prescriptions: dict[UUID, Prescription | None] = {}
    for exercise_id, week in changes.announced:
        written = after.prescriptions[exercise_id][week]
        prescriptions[written.id] = _by_id(before, exercise_id, written.id)
    for prescription_id, (prescription, _, _) in changes.deleted_prescriptions.items():
        if prescription_id not in prescriptions:
            old = _by_id(before, prescription.program_exercise_id, prescription_id)
            prescriptions[prescription_id] = old
    fields = ProgramFields.of(before) if changes.program_row else None
    return Undo(after.version, fields, sessions, prescriptions)


def _by_id(program: Program, exercise_id: UUID, prescription_id: UUID) -> Prescription | None:
    for prescription in program.prescriptions.get(exercise_id, {}).values():
        if prescription.id == prescription_id:
            return prescription
    return None


T = TypeVar("T")


class HistoryGap(Exception):
    """The history does not hold a version the revert needs."""


def state_at(current: Program, undos: Iterable[Undo], version: int) -> Program:
    """The program as it was at `version`: `current` (every prescription loaded) with the undos of
    the versions after `version` laid over it, newest first. The athlete and `origins_known`
    stay the current ones. Raises `HistoryGap` when an undo is missing.

    A prescription it brings back (deleted since) comes with the version its deletion was
    announced with, so that announcing it again moves its version on: a key's `version` only
    grows (CONTRACT.md § Events), even past a `deleted: true` event."""
    by_version = {undo.version: undo for undo in undos}
    sessions = {session.id: session for session in current.sessions}
    prescriptions = {
        p.id: p for by_week in current.prescriptions.values() for p in by_week.values()
    }
    fields = ProgramFields.of(current)
    latest: dict[UUID, int] = {}  # the newest version of each prescription laid over
    for at in range(current.version, version, -1):
        undo = by_version.get(at)
        if undo is None:
            raise HistoryGap(at)
        fields = undo.program or fields
        _lay_over(sessions, undo.sessions)
        _lay_over(prescriptions, undo.prescriptions)
        for prescription_id, image in undo.prescriptions.items():
            if image is not None and prescription_id not in latest:
                latest[prescription_id] = image.version  # newest first: the first is the newest
    then = Program(
        current.id,
        current.tenant_id,
        fields.name,
        fields.weeks,
        current.version,
        sessions=[sessions[session_id].copy() for session_id in fields.session_ids],
        week_labels=dict(fields.week_labels),
        source=fields.source,
        athlete=current.athlete,
        start_date=fields.start_date,
        removed_origins=fields.removed_origins,
        origins_known=current.origins_known,
    )
    exercises = then.exercise_ids()
    then.loaded = set(exercises)
    then.prescriptions = {exercise_id: {} for exercise_id in exercises}
    held = {p.id for by_week in current.prescriptions.values() for p in by_week.values()}
    for kept in prescriptions.values():
        if kept.program_exercise_id in exercises:
            then.prescriptions[kept.program_exercise_id][kept.week] = (
                kept
                if kept.id in held
                # deleted since: the version its deletion was announced with
                else Prescription(
                    kept.id, kept.program_exercise_id, kept.week, latest[kept.id] + 1, kept.series
                )
            )
    return then


def _lay_over(state: dict[UUID, T], undo: Mapping[UUID, T | None]) -> None:
    for entity_id, then in undo.items():
        if then is None:
            state.pop(entity_id, None)
        else:
            state[entity_id] = then
