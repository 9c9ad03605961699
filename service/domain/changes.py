"""What a command changed: the sessions it touched (with where their exercises stood before),
what it deleted, and which prescriptions' series it wrote. `events.announce` reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from service.domain.model import Placement, Prescription, Program, ProgramExercise, Session


@dataclass(slots=True)
class Changes:
    """Everything one command changed (a batch's operations share one)."""

    # The program's own state (name, weeks, week labels, session order) changed: announce it.
    program_row: bool = False
    program_deleted: bool = False
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
        self.program_row = True  # its session order changed
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
