"""Commands on a whole program: create, import, update, republish, and the batch of edits."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from contracts import commands as c
from contracts.snapshots import LegacyProgramSnapshot
from service.domain.calendar import after_weeks_shrunk
from service.domain.commands import rules
from service.domain.commands.registry import (
    WHOLE_PROGRAM,
    IdPaths,
    Reads,
    Step,
    handler_of,
    handles,
    ids_created_by,
    reads_of,
    whole_program,
)
from service.domain.errors import InvariantViolated, Rejection
from service.domain.imports import fill_from_snapshot
from service.domain.model import (
    ExerciseGroup,
    Prescription,
    Program,
    ProgramExercise,
    ProgramSource,
    Session,
    normalized_athlete,
)


def _program_id(body: c.ProgramCreate) -> IdPaths:
    return [("programId", body.program_id)]


@handles(c.ProgramCreateBody, creates=_program_id, creates_program=True)
def program_create(program: Program, body: c.ProgramCreateBody, step: Step) -> None:
    program.name = body.name
    program.weeks = body.weeks
    step.changes.program_row = True


def _snapshot_ids(body: c.ProgramImport) -> IdPaths:
    """The program's id and every id the snapshot creates, at its path in the command."""
    snapshot = body.program
    found: list[tuple[str, UUID | None]] = [("programId", body.program_id)]
    if isinstance(snapshot, LegacyProgramSnapshot):
        for s, legacy in enumerate(snapshot.sessions):
            at = f"program.sessions[{s}]"
            found.append((f"{at}.sessionId", legacy.session_id))
            found += [
                (f"{at}.exercises[{e}].programExerciseId", exercise.program_exercise_id)
                for e, exercise in enumerate(legacy.exercises)
            ]
        return found
    for s, session in enumerate(snapshot.sessions):
        at = f"program.sessions[{s}]"
        found.append((f"{at}.sessionId", session.session_id))
        for g, group in enumerate(session.groups):
            found.append((f"{at}.groups[{g}].groupId", group.group_id))
            found += [
                (f"{at}.groups[{g}].exercises[{e}].programExerciseId", exercise.program_exercise_id)
                for e, exercise in enumerate(group.exercises)
            ]
    return found


@handles(c.ProgramImportBody, creates=_snapshot_ids, creates_program=True)
def program_import(program: Program, body: c.ProgramImportBody, step: Step) -> None:
    fill_from_snapshot(program, body.program, step.ids)
    step.changes.program_row = True
    for session in program.sessions:
        step.changes.touch_new(session)


def _program_update_reads(program: Program, body: c.ProgramUpdateBody) -> Reads:
    shrinking = body.weeks is not None and body.weeks < program.weeks
    return WHOLE_PROGRAM if shrinking else Reads()


@handles(c.ProgramUpdateBody, reads=_program_update_reads)
def program_update(program: Program, body: c.ProgramUpdateBody, step: Step) -> None:
    weeks = body.weeks if body.weeks is not None else program.weeks
    for at, label in enumerate(body.week_labels or ()):
        if label.week >= weeks:
            raise InvariantViolated(
                f"weekLabels[{at}].week {label.week} is outside the program, which "
                f"{'would have' if body.weeks is not None else 'has'} {weeks} weeks (0.."
                f"{weeks - 1})",
                path=f"weekLabels[{at}].week",
            )
    step.changes.program_row = True
    if body.name is not None:
        program.name = body.name
    if weeks < program.weeks:
        for session in program.sessions:
            for exercise in session.exercises():
                by_week = program.prescriptions_of(exercise.id)
                for week in [w for w in by_week if w >= weeks]:
                    step.changes.delete_prescription(by_week.pop(week), exercise, session.id)
        program.week_labels = {w: label for w, label in program.week_labels.items() if w < weeks}
        rules.move_reschedulings(
            program, step.changes, lambda rescheduled: after_weeks_shrunk(rescheduled, weeks)
        )
    program.weeks = weeks
    if body.week_labels is not None:
        program.week_labels = {label.week: label.label for label in body.week_labels}


@handles(c.ProgramRepublishBody, reads=whole_program, copies=False, versioned=False)
def program_republish(program: Program, body: c.ProgramRepublishBody, step: Step) -> None:
    step.changes.republish = True


def _copy_ids(body: c.ProgramCopyBody) -> IdPaths:
    return [("newProgramId", body.new_program_id)]


@handles(c.ProgramCopyBody, reads=whole_program, creates=_copy_ids, copies=False, versioned=False)
def program_copy(program: Program, body: c.ProgramCopyBody, step: Step) -> None:
    """A new program of the same tenant at version 1; every copied id is uuid5(commandId,
    sourceId). The template itself is left as it is (its version stays)."""
    ids = step.ids
    copy = Program(
        body.new_program_id,
        program.tenant_id,
        body.name or program.name,
        program.weeks,
        1,
        week_labels=dict(program.week_labels),
        source=ProgramSource(program.id, program.version),
        # Absent keeps the source's athlete; null makes a template; an object assigns the copy.
        athlete=program.athlete
        if "athlete" not in body.model_fields_set
        else (normalized_athlete(body.athlete) if body.athlete is not None else None),
        start_date=program.start_date,
    )
    for session in program.sessions:
        groups: list[ExerciseGroup] = []
        for group in session.groups:
            members: list[ProgramExercise] = []
            for exercise in group.exercises:
                copy_id = ids.copy_of(exercise.id)
                # notes, alternatives, progression, warm-up; its origin
                members.append(replace(exercise, id=copy_id, origin=exercise.id))
                copy.loaded.add(copy_id)
                copy.prescriptions[copy_id] = {
                    week: Prescription(ids.copy_of(p.id), copy_id, week, 0, p.series)
                    for week, p in program.prescriptions_of(exercise.id).items()
                }
                for week in copy.prescriptions[copy_id]:
                    step.changes.series_changed(copy_id, week)
            groups.append(
                ExerciseGroup(ids.copy_of(group.id), members, group.settings, origin=group.id)
            )
        copy.sessions.append(
            Session(
                ids.copy_of(session.id),
                session.name,
                groups,
                session.day_offset,
                session.rescheduled,  # never changed in place: shared safely
                origin=session.id,
            )
        )
        step.changes.touch_new(copy.sessions[-1])
    step.changes.program_row = True
    step.output = copy


@handles(c.ProgramDeleteBody, reads=whole_program)
def program_delete(program: Program, body: c.ProgramDeleteBody, step: Step) -> None:
    """Everything of the program is deleted and announced so (then tombstoned)."""
    for at, session in enumerate(program.sessions):
        step.changes.delete_session(program, session, at)
    program.sessions = []
    program.prescriptions = {}
    program.week_labels = {}
    program.deleted = True
    step.changes.program_row = True
    step.changes.program_deleted = True


def _batch_reads(program: Program, body: c.BatchBody) -> Reads:
    reads = Reads()
    for operation in body.operations:
        reads |= reads_of(program, operation)
    return reads


def _batch_ids(body: c.BatchBody) -> IdPaths:
    return [
        (f"operations[{at}].{path}", value)
        for at, operation in enumerate(body.operations)
        for path, value in ids_created_by(operation)
    ]


@handles(c.BatchBody, reads=_batch_reads, creates=_batch_ids)
def batch(program: Program, body: c.BatchBody, step: Step) -> None:
    """Every operation in order on the same copy, all or nothing, one version increment."""
    for at, operation in enumerate(body.operations):
        operation_step = Step(step.changes, step.context, step.ids.for_operation(at))
        try:
            handler_of(operation).apply(program, operation, operation_step)
        except Rejection as rejection:
            raise rejection.prefixed(f"operations[{at}].") from None
