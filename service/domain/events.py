"""The events a command causes, as domain values: what changed and where it now stands.

`announce` turns a command's `Changes` into these values by comparing each touched exercise's
placement before and after, so a shift caused by an insert or a removal elsewhere in the session
is announced as surely as the edit itself. Their wire form is written in `service.apply.wire`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from contracts.athletes import Athlete
from service.domain.changes import Changes
from service.domain.derived import date_of, loads_of
from service.domain.loads import ResolvedLoad, resolution_of
from service.domain.model import (
    Placement,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
)
from service.domain.warmups import WarmupSet


@dataclass(frozen=True, slots=True)
class Cause:
    """What every event of one command shares."""

    command_id: UUID
    tenant_id: str
    program_id: UUID
    program_version: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PrescriptionEvent:
    """A prescription's state after the command; `placement` None means it was deleted.

    `resolved` holds each set's load resolved for the program's athlete, in order;
    `warmups` its warm-up sets and `scheduled` the date of its session in its week."""

    cause: Cause
    prescription: Prescription
    exercise: ProgramExercise
    session_id: UUID
    placement: Placement | None
    resolved: tuple[ResolvedLoad | None, ...]
    warmups: tuple[WarmupSet, ...] = ()
    scheduled: date | None = None

    @property
    def key(self) -> UUID:
        return self.prescription.id


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A session's structure after the command (a snapshot: later commands copy, never mutate)."""

    cause: Cause
    session: Session
    order_index: int
    deleted: bool

    @property
    def key(self) -> UUID:
        return self.session.id


@dataclass(frozen=True, slots=True)
class ProgramEvent:
    """A program's own state after the command: name, weeks, week labels, sessions in order."""

    cause: Cause
    name: str
    weeks: int
    week_labels: tuple[tuple[int, str], ...]
    session_ids: tuple[UUID, ...]
    source: ProgramSource | None
    athlete: Athlete | None = None
    deleted: bool = False
    start_date: date | None = None

    @property
    def key(self) -> UUID:
        return self.cause.program_id


Event = PrescriptionEvent | SessionEvent | ProgramEvent


def program_event(program: Program, cause: Cause) -> ProgramEvent:
    return ProgramEvent(
        cause,
        program.name,
        program.weeks,
        tuple(sorted(program.week_labels.items())),
        tuple(session.id for session in program.sessions),
        program.source,
        program.athlete,
        program.deleted,
        program.start_date,
    )


Where = tuple[Placement, ProgramExercise, Session]
"""Where a program exercise stands after the command: its placement, itself, its session."""


def announce(
    program: Program, changes: Changes, command_id: UUID, occurred_at: datetime
) -> list[Event]:
    """Bump the version of every prescription to announce and build the command's events:
    prescriptions (changed, then deleted), sessions (touched, then deleted), the program.

    Mutates `program.prescriptions` (versions) only; call once per command, after it applied.
    """
    cause = Cause(command_id, program.tenant_id, program.id, program.version, occurred_at)
    session_index = {session.id: (index, session) for index, session in enumerate(program.sessions)}
    touched = session_index if changes.republish else changes.sessions
    to_announce, where = _prescriptions_to_announce(program, changes, session_index, touched)
    events: list[Event] = _prescription_events(program, changes, cause, to_announce, where)
    for prescription, exercise, session_id in changes.deleted_prescriptions.values():
        gone = replace(prescription, version=prescription.version + 1, series=())
        events.append(PrescriptionEvent(cause, gone, exercise, session_id, None, ()))
    for session_id in touched:
        if session_id in session_index:
            index, session = session_index[session_id]
            events.append(SessionEvent(cause, session, index, deleted=False))
    for session, order_index in changes.deleted_sessions.values():
        events.append(SessionEvent(cause, session, order_index, deleted=True))
    if changes.program_row or changes.republish:
        events.append(program_event(program, cause))
    return events


def _prescriptions_to_announce(
    program: Program,
    changes: Changes,
    session_index: dict[UUID, tuple[int, Session]],
    touched: Iterable[UUID],
) -> tuple[dict[UUID, dict[int, None] | None], dict[UUID, Where]]:
    """Which prescriptions the command announces, by exercise (None: every week), and where
    the exercises of the touched sessions stand: every exercise of a touched session whose
    placement changed (a shift caused elsewhere in the session included), every series
    written."""
    to_announce: dict[UUID, dict[int, None] | None] = {}
    where: dict[UUID, Where] = {}
    for session_id in touched:
        if session_id not in session_index:
            continue
        session = session_index[session_id][1]
        placements = program.placements(session)
        for exercise in session.exercises():
            placement = placements[exercise.id]
            where[exercise.id] = (placement, exercise, session)
            if changes.republish or changes.placements_before.get(exercise.id) != placement:
                to_announce[exercise.id] = None
    for exercise_id, week in changes.series:
        weeks = to_announce.setdefault(exercise_id, {})
        if weeks is not None:
            weeks[week] = None
    return to_announce, where


def _prescription_events(
    program: Program,
    changes: Changes,
    cause: Cause,
    to_announce: dict[UUID, dict[int, None] | None],
    where: dict[UUID, Where],
) -> list[Event]:
    """An event per prescription to announce, each one version on (a republish keeps them),
    with what it derives (resolved loads, warm-ups, date)."""
    resolution = resolution_of(program.athlete)
    events: list[Event] = []
    for exercise_id, weeks in to_announce.items():
        if exercise_id not in where:
            location = program.locate(exercise_id)
            placement = program.placements(location.session)[exercise_id]
            where[exercise_id] = (placement, location.exercise, location.session)
        placement, exercise, session = where[exercise_id]
        by_week = program.prescriptions_of(exercise_id)
        for week in sorted(by_week) if weeks is None else weeks:
            prescription = by_week[week]
            if not changes.republish:
                prescription = prescription.next_version()
                by_week[week] = prescription
                changes.announced.add((exercise_id, week))
            resolved, warmups = loads_of(resolution, exercise, prescription.series)
            events.append(
                PrescriptionEvent(
                    cause,
                    prescription,
                    exercise,
                    placement.session_id,
                    placement,
                    resolved,
                    warmups,
                    date_of(program, session, week),
                )
            )
    return events
