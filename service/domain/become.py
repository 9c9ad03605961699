"""`become`: a program takes a whole new content (`program.sync`, `program.revert`), and
its `Changes` record exactly what differs, so the command announces what changed and nothing
else, as any command does.

Both commands compute the program they lead to as a value first (`commands.templates`), then
hand it here: sessions, groups and program exercises are matched by id, prescriptions by id too
(a prescription that keeps its id keeps its current version; a new one comes with the version
the caller gave it, and `announce` moves both one on).
"""

from __future__ import annotations

from uuid import UUID

from service.domain.changes import Changes
from service.domain.derived import date_of, loads_of
from service.domain.history import ProgramFields
from service.domain.loads import resolution_of
from service.domain.model import Prescription, Program, ProgramExercise, Session


def become(program: Program, target: Program, changes: Changes) -> None:
    """Give `program` the content of `target` (a value built for it: its sessions and
    prescriptions are not shared with any other program), recording what differs in `changes`.
    The athlete, id, tenant and version stay `program`'s."""
    now = {session.id: (at, session) for at, session in enumerate(program.sessions)}
    then = {session.id: (at, session) for at, session in enumerate(target.sessions)}
    exercises_now = _exercises(program.sessions)
    exercises_then = _exercises(target.sessions)

    for session_id, (at, session) in now.items():
        if session_id not in then:
            changes.deleted_sessions[session_id] = (session, at)
        elif then[session_id] != (at, session):
            changes.touch(program, session)
    changes.deleted_groups |= _group_ids(program.sessions) - _group_ids(target.sessions)
    for exercise_id, (session, exercise) in exercises_now.items():
        if exercise_id not in exercises_then:
            changes.delete_exercise(program, exercise, session.id)
    for exercise_id, (session, exercise) in exercises_then.items():
        before = exercises_now.get(exercise_id)
        _prescriptions(
            program, target, changes, exercise_id, before=before, after=(session, exercise)
        )

    # Its own fields announced when they change (a sync announces them always, see its handler).
    changes.program_row |= ProgramFields.of(program) != ProgramFields.of(target)
    program.name = target.name
    program.weeks = target.weeks
    program.week_labels = dict(target.week_labels)
    program.start_date = target.start_date
    program.source = target.source
    program.removed_origins = target.removed_origins
    program.sessions = target.sessions
    program.prescriptions = {e: dict(target.prescriptions.get(e, {})) for e in exercises_then}
    program.loaded = set(exercises_then)
    for session in target.sessions:
        if session.id not in now:
            changes.touch_new(session)


Where = tuple[Session, ProgramExercise]


def _exercises(sessions: list[Session]) -> dict[UUID, Where]:
    return {e.id: (session, e) for session in sessions for e in session.exercises()}


def _group_ids(sessions: list[Session]) -> set[UUID]:
    return {group.id for session in sessions for group in session.groups}


def _prescriptions(
    program: Program,
    target: Program,
    changes: Changes,
    exercise_id: UUID,
    *,
    before: Where | None,
    after: Where,
) -> None:
    """The prescriptions of one program exercise of `target`: each kept one keeps its version,
    and is announced when its week or series differs or when what its event derives does (the
    catalog exercise, warm-ups, date); each one `program` had and `target` does not is deleted."""
    by_week = target.prescriptions.setdefault(exercise_id, {})
    if before is None:
        for week in by_week:
            changes.series_changed(exercise_id, week)
        return
    old = {p.id: p for p in program.prescriptions_of(exercise_id).values()}
    kept = {p.id for p in by_week.values()}
    for prescription in old.values():
        if prescription.id not in kept:
            changes.delete_prescription(prescription, before[1], before[0].id)
    resolution = resolution_of(program.athlete)
    (session_then, exercise_then), (session_now, exercise_now) = after, before
    for week, prescription in by_week.items():
        current = old.get(prescription.id)
        if current is None:
            changes.series_changed(exercise_id, week)
            continue
        by_week[week] = Prescription(
            current.id, exercise_id, week, current.version, prescription.series
        )
        if (
            current.week != week
            or current.series != prescription.series
            or exercise_now.exercise_id != exercise_then.exercise_id
            or (
                exercise_now.warmup != exercise_then.warmup
                and loads_of(resolution, exercise_now, current.series)
                != loads_of(resolution, exercise_then, prescription.series)
            )
            or date_of(program, session_now, week) != date_of(target, session_then, week)
        ):
            changes.series_changed(exercise_id, week)
