"""`program.sync` as a pure function (CONTRACT.md § "Templates that stay in sync"): the
copy as it would be after taking its source's current state, and the state of every session.

`synced` decides and builds; it changes neither program. The command (`commands.templates`)
then either reports only (a dry run) or makes the copy that value (`become.become`), which
announces exactly what differs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from contracts.commands import MAX_SESSIONS_PER_PROGRAM
from service.domain.calendar import after_weeks_shrunk
from service.domain.errors import InvariantViolated
from service.domain.ids import IdDeriver
from service.domain.model import (
    ExerciseGroup,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
)


class State(StrEnum):
    UNCHANGED = "unchanged"
    SYNCED = "synced"
    NEW = "new"
    CUSTOM = "custom"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class SessionSync:
    source_session_id: UUID
    session_id: UUID | None
    state: State


@dataclass(frozen=True, slots=True)
class Sync:
    """What a sync leads to: the copy's new content (`program`) and each session's state."""

    program: Program
    sessions: list[SessionSync]


E = TypeVar("E", Session, ExerciseGroup, ProgramExercise)

By = dict[UUID, dict[int, Prescription]]
"""Prescriptions by program exercise, then week."""


def synced(
    copy: Program, source: Program, from_week: int, override: Collection[UUID], ids: IdDeriver
) -> Sync:
    """The copy after a sync from `source` (both with every prescription loaded): a new value,
    sharing no session or group with either program."""
    sessions = [session.copy() for session in copy.sessions]
    prescriptions: By = {e: dict(weeks) for e, weeks in copy.prescriptions.items()}
    removed = set(copy.removed_origins)
    report: list[SessionSync] = []
    counterparts = _first_by_origin(copy.sessions)
    taking = _Taking(source, prescriptions, from_week, ids)

    for source_at, original in enumerate(source.sessions):
        counterpart = counterparts.get(original.id)
        overridden = original.id in override
        if counterpart is None:
            if original.id in removed and not overridden:
                report.append(SessionSync(original.id, None, State.CUSTOM))
                continue
            created = taking.new_session(original)
            sessions.insert(_place(sessions, source.sessions[:source_at]), created)
            removed.discard(original.id)
            report.append(SessionSync(original.id, created.id, State.NEW))
            continue
        if counterpart.customised and not overridden:
            report.append(SessionSync(original.id, counterpart.id, State.CUSTOM))
            continue
        at = next(i for i, s in enumerate(sessions) if s.id == counterpart.id)
        taken = taking.content(counterpart, original)
        if taken is None:
            sessions[at] = replace(sessions[at], customised=False)
            report.append(SessionSync(original.id, counterpart.id, State.UNCHANGED))
        else:
            sessions[at] = taken
            report.append(SessionSync(original.id, counterpart.id, State.SYNCED))

    in_source = {session.id for session in source.sessions}
    for session in copy.sessions:
        if session.origin is None or session.origin in in_source:
            continue
        if counterparts.get(session.origin) is not session:
            continue  # a second session of one origin: not the counterpart, left alone
        if session.customised:
            report.append(SessionSync(session.origin, session.id, State.CUSTOM))
        else:
            sessions = [s for s in sessions if s.id != session.id]
            report.append(SessionSync(session.origin, session.id, State.REMOVED))
    if len(sessions) > MAX_SESSIONS_PER_PROGRAM:
        raise InvariantViolated(
            f"the sync would leave program {copy.id} with {len(sessions)} sessions; a program "
            f"holds at most {MAX_SESSIONS_PER_PROGRAM}: remove some of its own sessions first",
            path="",
        )
    return Sync(
        _program(copy, source, sessions, prescriptions, removed=removed, from_week=from_week),
        report,
    )


def _program(
    copy: Program,
    source: Program,
    sessions: list[Session],
    prescriptions: By,
    *,
    removed: set[UUID],
    from_week: int,
) -> Program:
    """The copy's new program-level state: the source's weeks (a shrink drops the dropped weeks'
    prescriptions, labels and reschedulings) and labels from `from_week` on."""
    weeks = source.weeks
    labels = {w: label for w, label in copy.week_labels.items() if w < from_week}
    labels |= {w: label for w, label in source.week_labels.items() if w >= from_week}
    exercises = {exercise.id for session in sessions for exercise in session.exercises()}
    kept: By = {
        exercise_id: {w: p for w, p in by_week.items() if w < weeks}
        for exercise_id, by_week in prescriptions.items()
        if exercise_id in exercises
    }
    for session in sessions:
        if any(week >= weeks for week in session.rescheduled):
            session.rescheduled = after_weeks_shrunk(session.rescheduled, weeks)
    return Program(
        copy.id,
        copy.tenant_id,
        copy.name,
        weeks,
        copy.version,
        sessions=sessions,
        week_labels={w: label for w, label in labels.items() if w < weeks},
        source=ProgramSource(source.id, source.version),
        athlete=copy.athlete,
        start_date=copy.start_date,
        prescriptions=kept,
        loaded=set(kept),
        removed_origins=frozenset(removed),
        origins_known=copy.origins_known,
    )


def _place(sessions: list[Session], earlier: list[Session]) -> int:
    """Where a new session goes: right after the copy's session whose origin is the nearest
    earlier source session that has one, else first."""
    for original in reversed(earlier):
        for at, session in enumerate(sessions):
            if session.origin == original.id:
                return at + 1
    return 0


class _Taking:
    """Builds sessions with the source's content into the copy's prescriptions (`prescriptions`,
    changed in place: it is the sync's own)."""

    def __init__(self, source: Program, prescriptions: By, from_week: int, ids: IdDeriver) -> None:
        self.source = source
        self.prescriptions = prescriptions
        self.from_week = from_week
        self.ids = ids

    def new_session(self, original: Session) -> Session:
        """A session created with the source's content, id uuid5(commandId, sourceSessionId),
        the source's day of the week and no reschedulings."""
        groups = self._groups(original, {}, {})
        return Session(
            self.ids.copy_of(original.id),
            original.name,
            groups,
            original.day_offset,
            {},
            origin=original.id,
        )

    def content(self, counterpart: Session, original: Session) -> Session | None:
        """`counterpart` with the source's content, or None when that changes nothing (its
        prescriptions, written again, then equal what they were)."""
        groups = _first_by_origin(counterpart.groups)
        exercises = _first_by_origin(list(counterpart.exercises()))
        before = {e.id: self.prescriptions.get(e.id, {}) for e in counterpart.exercises()}
        taken = replace(
            counterpart,
            name=original.name,
            groups=self._groups(original, groups, exercises),
            customised=False,
        )
        same = replace(counterpart, customised=False) == taken and all(
            self.prescriptions.get(e.id) == before.get(e.id) for e in taken.exercises()
        )
        return None if same else taken

    def _groups(
        self,
        original: Session,
        groups: dict[UUID, ExerciseGroup],
        exercises: dict[UUID, ProgramExercise],
    ) -> list[ExerciseGroup]:
        """The source session's groups and exercises, each with the id of its counterpart in the
        copy's session (same origin) or a derived one, and their prescriptions written."""
        built: list[ExerciseGroup] = []
        for group in original.groups:
            counterpart = groups.get(group.id)
            members: list[ProgramExercise] = []
            for exercise in group.exercises:
                mine = exercises.get(exercise.id)
                exercise_id = mine.id if mine is not None else self.ids.copy_of(exercise.id)
                members.append(replace(exercise, id=exercise_id, origin=exercise.id))
                self._prescriptions(exercise.id, exercise_id)
            group_id = counterpart.id if counterpart is not None else self.ids.copy_of(group.id)
            built.append(ExerciseGroup(group_id, members, group.settings, origin=group.id))
        return built

    def _prescriptions(self, source_exercise_id: UUID, exercise_id: UUID) -> None:
        """Weeks >= fromWeek become the source's (same id where the copy has that week, else
        derived; none where the source has none), earlier weeks stay; week 0 always exists."""
        mine = self.prescriptions.get(exercise_id, {})
        theirs = self.source.prescriptions_of(source_exercise_id)
        result = {w: p for w, p in mine.items() if w < self.from_week}
        for week, prescription in theirs.items():
            if week < self.from_week:
                continue
            held = mine.get(week)
            if held is not None and held.series == prescription.series:
                result[week] = held
                continue
            result[week] = Prescription(
                held.id if held is not None else self.ids.prescription(exercise_id, week),
                exercise_id,
                week,
                held.version if held is not None else 0,
                prescription.series,
            )
        if 0 not in result:
            held = mine.get(0)
            result[0] = (
                replace(held, series=())
                if held is not None
                else Prescription(self.ids.prescription(exercise_id, 0), exercise_id, 0, 0, ())
            )
        self.prescriptions[exercise_id] = dict(sorted(result.items()))


def _first_by_origin(entities: list[E]) -> dict[UUID, E]:
    """Each origin's first entity (in the given order): its counterpart in a sync."""
    found: dict[UUID, E] = {}
    for entity in entities:
        if entity.origin is not None:
            found.setdefault(entity.origin, entity)
    return found
