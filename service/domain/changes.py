"""What a command changed, and the events that announce it.

Domain functions record *what* they touched; `announce` turns that into the contract's events by
comparing each touched exercise's placement before and after, so a shift caused by an insert or
a removal elsewhere in the session is announced as surely as the edit itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from service.domain.ids import event_id
from service.domain.model import Placement, Prescription, Program, ProgramExercise, Session

PRESCRIPTION_EVENT = "prescription"
SESSION_EVENT = "session"


@dataclass(frozen=True, slots=True)
class Event:
    """One event to publish: its kind (topic), key and JSON-ready payload."""

    kind: str
    key: UUID
    payload: dict[str, Any]


@dataclass(slots=True)
class Changes:
    """Everything one command changed (a batch's operations share one)."""

    program_row: bool = False
    placements_before: dict[UUID, Placement] = field(default_factory=dict)
    sessions: dict[UUID, None] = field(default_factory=dict)  # touched, in order of touching
    deleted_sessions: dict[UUID, tuple[Session, int]] = field(default_factory=dict)
    deleted_groups: set[UUID] = field(default_factory=set)
    deleted_exercises: set[UUID] = field(default_factory=set)
    series: dict[tuple[UUID, int], None] = field(default_factory=dict)
    deleted_prescriptions: dict[UUID, tuple[Prescription, ProgramExercise, UUID]] = field(
        default_factory=dict
    )
    republish: bool = False
    announced: set[tuple[UUID, int]] = field(default_factory=set)  # filled by `announce`

    def touch(self, program: Program, session: Session) -> None:
        """Call before changing `session`: keeps where its exercises stood."""
        if session.id in self.sessions:
            return
        self.sessions[session.id] = None
        for exercise_id, placement in program.placements(session).items():
            self.placements_before.setdefault(exercise_id, placement)

    def touch_new(self, session: Session) -> None:
        self.sessions.setdefault(session.id, None)

    def delete_session(self, program: Program, session: Session, order_index: int) -> None:
        self.touch(program, session)
        self.deleted_sessions[session.id] = (session, order_index)
        for group in session.groups:
            self.deleted_groups.add(group.id)
            for exercise in group.exercises:
                self.delete_exercise(program, exercise, session.id)

    def delete_exercise(
        self, program: Program, exercise: ProgramExercise, session_id: UUID
    ) -> None:
        self.deleted_exercises.add(exercise.id)
        for prescription in program.prescriptions_of(exercise.id).values():
            self.delete_prescription(prescription, exercise, session_id)

    def delete_prescription(
        self, prescription: Prescription, exercise: ProgramExercise, session_id: UUID
    ) -> None:
        self.series.pop((prescription.program_exercise_id, prescription.week), None)
        self.deleted_prescriptions[prescription.id] = (prescription, exercise, session_id)

    def series_changed(self, program_exercise_id: UUID, week: int) -> None:
        self.series[(program_exercise_id, week)] = None


@dataclass(frozen=True, slots=True)
class _Header:
    """What every event of one command shares."""

    program: Program
    causation_id: UUID
    stamp: str

    def fields(self, kind: str, key: UUID, event_type: str) -> dict[str, Any]:
        return {
            "eventId": str(event_id(self.causation_id, kind, key)),
            "type": event_type,
            "occurredAt": self.stamp,
            "tenantId": self.program.tenant_id,
            "programId": str(self.program.id),
        }


def announce(
    program: Program, changes: Changes, causation_id: UUID, occurred_at: datetime
) -> list[Event]:
    """Bump the version of every prescription to announce and build the command's events.

    Mutates `program.prescriptions` (versions) only; call once per command, after it applied.
    """
    header = _Header(program, causation_id, occurred_at.isoformat().replace("+00:00", "Z"))
    events: list[Event] = []
    session_index = {session.id: (index, session) for index, session in enumerate(program.sessions)}

    to_announce: dict[UUID, dict[int, None] | None] = {}  # exercise -> weeks (None: all weeks)
    after: dict[UUID, tuple[Placement, ProgramExercise]] = {}
    for session_id in changes.sessions if not changes.republish else session_index:
        if session_id not in session_index:
            continue
        session = session_index[session_id][1]
        placements = program.placements(session)
        for exercise in session.exercises():
            placement = placements[exercise.id]
            after[exercise.id] = (placement, exercise)
            if changes.republish or changes.placements_before.get(exercise.id) != placement:
                to_announce[exercise.id] = None
    for exercise_id, week in changes.series:
        weeks = to_announce.setdefault(exercise_id, {})
        if weeks is not None:
            weeks[week] = None

    for exercise_id, weeks in to_announce.items():
        if exercise_id not in after:
            location = program.locate(exercise_id)
            after[exercise_id] = (
                program.placements(location.session)[exercise_id],
                location.exercise,
            )
        placement, exercise = after[exercise_id]
        by_week = program.prescriptions_of(exercise_id)
        for week in sorted(by_week) if weeks is None else weeks:
            prescription = by_week[week]
            if not changes.republish:
                prescription = replace(prescription, version=prescription.version + 1)
                by_week[week] = prescription
                changes.announced.add((exercise_id, week))
            events.append(_prescription_event(header, prescription, exercise, placement))
    for prescription, exercise, session_id in changes.deleted_prescriptions.values():
        events.append(_deleted_prescription_event(header, prescription, exercise, session_id))

    for session_id in changes.sessions if not changes.republish else session_index:
        if session_id in session_index:
            index, session = session_index[session_id]
            events.append(_session_event(header, session, index))
    for session, order_index in changes.deleted_sessions.values():
        events.append(_deleted_session_event(header, session, order_index))
    return events


def _prescription_event(
    header: _Header, prescription: Prescription, exercise: ProgramExercise, placement: Placement
) -> Event:
    payload = {
        **header.fields(PRESCRIPTION_EVENT, prescription.id, "prescription.updated"),
        "sessionId": str(placement.session_id),
        "programExerciseId": str(exercise.id),
        "prescriptionId": str(prescription.id),
        "exerciseId": str(exercise.exercise_id),
        "week": prescription.week,
        "version": prescription.version,
        "programVersion": header.program.version,
        "deleted": False,
        "group": {
            "groupId": str(placement.group_id),
            "kind": placement.kind.value,
            "orderIndex": placement.order_index,
            "orderWithinGroup": placement.order_within_group,
            "size": placement.size,
        },
        "series": list(prescription.series),
        "causationId": str(header.causation_id),
    }
    return Event(PRESCRIPTION_EVENT, prescription.id, payload)


def _deleted_prescription_event(
    header: _Header, prescription: Prescription, exercise: ProgramExercise, session_id: UUID
) -> Event:
    payload = {
        **header.fields(PRESCRIPTION_EVENT, prescription.id, "prescription.updated"),
        "sessionId": str(session_id),
        "programExerciseId": str(exercise.id),
        "prescriptionId": str(prescription.id),
        "exerciseId": str(exercise.exercise_id),
        "week": prescription.week,
        "version": prescription.version + 1,
        "programVersion": header.program.version,
        "deleted": True,
        "group": None,
        "series": [],
        "causationId": str(header.causation_id),
    }
    return Event(PRESCRIPTION_EVENT, prescription.id, payload)


def _session_event(header: _Header, session: Session, order_index: int) -> Event:
    payload = {
        **header.fields(SESSION_EVENT, session.id, "session.updated"),
        "sessionId": str(session.id),
        "programVersion": header.program.version,
        "deleted": False,
        "name": session.name,
        "orderIndex": order_index,
        "groups": [
            {
                "groupId": str(group.id),
                "orderIndex": group_index,
                "kind": group.kind.value,
                "rounds": group.rounds,
                "restBetweenRoundsSeconds": group.rest_between_rounds_seconds,
                "notes": group.notes,
                "exercises": [
                    {
                        "programExerciseId": str(exercise.id),
                        "exerciseId": str(exercise.exercise_id),
                        "name": exercise.name,
                        "orderWithinGroup": index,
                    }
                    for index, exercise in enumerate(group.exercises)
                ],
            }
            for group_index, group in enumerate(session.groups)
        ],
        "causationId": str(header.causation_id),
    }
    return Event(SESSION_EVENT, session.id, payload)


def _deleted_session_event(header: _Header, session: Session, order_index: int) -> Event:
    payload = {
        **header.fields(SESSION_EVENT, session.id, "session.updated"),
        "sessionId": str(session.id),
        "programVersion": header.program.version,
        "deleted": True,
        "name": session.name,
        "orderIndex": order_index,
        "groups": [],
        "causationId": str(header.causation_id),
    }
    return Event(SESSION_EVENT, session.id, payload)
