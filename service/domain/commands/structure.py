"""Commands that change a program's structure: sessions, exercise groups, program exercises.

Each handler checks the contract's rules first and changes the program (a copy the dispatcher
made) only once every check passed, recording in `step.changes` what it touched.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from contracts import commands as c
from contracts.commands import MAX_GROUPS_PER_SESSION
from service.domain.changes import Changes
from service.domain.commands import rules
from service.domain.commands.registry import (
    IdPaths,
    Reads,
    Step,
    handles,
    its_exercise,
    its_session,
    sessions,
)
from service.domain.derived import resolve_series, warmups_of
from service.domain.errors import InvariantViolated, NotFound
from service.domain.loads import resolution_of
from service.domain.model import ExerciseGroup, Prescription, Program, ProgramExercise, Session


def _session_add_ids(body: c.SessionAddBody) -> IdPaths:
    return [("sessionId", body.session_id)]


@handles(c.SessionAddBody, creates=_session_add_ids)
def session_add(program: Program, body: c.SessionAddBody, step: Step) -> None:
    rules.check_session_count(program)
    rules.new_id(program, step.context, body.session_id, "sessionId")
    at = rules.position(body.position, len(program.sessions), "position", "the program's sessions")
    session = Session(body.session_id, body.name, [], day_offset=body.day_offset)
    rules.insert_session(program, session, at, step.changes)


@handles(c.SessionRemoveBody, reads=its_session)
def session_remove(program: Program, body: c.SessionRemoveBody, step: Step) -> None:
    at, session = program.session(body.session_id)
    step.changes.delete_session(program, session, at)
    for shifted in program.sessions[at + 1 :]:
        step.changes.touch(program, shifted)
    program.sessions.pop(at)
    for exercise in session.exercises():
        program.prescriptions.pop(exercise.id, None)
    if session.origin is not None:  # A sync keeps it removed
        program.removed_origins = program.removed_origins | {session.origin}


def _exercise_add_ids(body: c.ExerciseAddBody) -> IdPaths:
    return [("programExerciseId", body.program_exercise_id), ("newGroupId", body.new_group_id)]


@handles(c.ExerciseAddBody, reads=its_session, creates=_exercise_add_ids)
def exercise_add(program: Program, body: c.ExerciseAddBody, step: Step) -> None:
    changes, ids = step.changes, step.ids
    _, session = program.session(body.session_id)
    rules.new_id(program, step.context, body.program_exercise_id, "programExerciseId")
    exercise = ProgramExercise(
        body.program_exercise_id, body.exercise_id, body.name, warmup=body.warmup
    )
    if body.group_id is not None:
        group_session, _, group = program.group(body.group_id)
        if group_session.id != session.id:
            raise NotFound(
                f"exercise group {body.group_id} is not in session {session.id}", path="groupId"
            )
        rules.check_group_size(group, 1, "groupId")
        at = rules.position(body.position, len(group.exercises), "position", "the group")
        changes.touch(program, session)
        group.exercises.insert(at, exercise)
    else:
        group_id = rules.new_id(
            program, step.context, body.new_group_id or ids.group(), "newGroupId"
        )
        rules.check_group_count(session, 1)
        at = rules.position(body.position, len(session.groups), "position", "the session's groups")
        changes.touch(program, session)
        session.groups.insert(at, ExerciseGroup(group_id, [exercise]))
    program.loaded.add(exercise.id)
    program.prescriptions[exercise.id] = {
        0: Prescription(
            ids.prescription(exercise.id, 0), exercise.id, 0, 0, rules.wire_series(body.series)
        )
    }
    changes.series_changed(exercise.id, 0)
    rules.customise(program, session.id, changes)


def _exercise_remove_reads(program: Program, body: c.ExerciseRemoveBody) -> Reads:
    return sessions(program, holding=[body.program_exercise_id])


@handles(c.ExerciseRemoveBody, reads=_exercise_remove_reads)
def exercise_remove(program: Program, body: c.ExerciseRemoveBody, step: Step) -> None:
    at = program.locate(body.program_exercise_id)
    step.changes.touch(program, at.session)
    step.changes.delete_exercise(program, at.exercise, at.session.id)
    rules.remove_from_group(at.session, at.group_index, at.index_in_group, step.changes)
    program.prescriptions.pop(at.exercise.id, None)
    rules.customise(program, at.session.id, step.changes)


def _exercise_move_reads(program: Program, body: c.ExerciseMoveBody) -> Reads:
    return sessions(
        program, [body.to_session_id], holding=[body.program_exercise_id, body.to_group_id]
    )


def _exercise_move_ids(body: c.ExerciseMoveBody) -> IdPaths:
    return [("newGroupId", body.new_group_id)]


@handles(c.ExerciseMoveBody, reads=_exercise_move_reads, creates=_exercise_move_ids)
def exercise_move(program: Program, body: c.ExerciseMoveBody, step: Step) -> None:
    changes = step.changes
    at = program.locate(body.program_exercise_id)
    if body.to_group_id is not None:
        target_session, _, target = program.group(body.to_group_id, path="toGroupId")
        if target.id == at.group.id:
            where = rules.position(
                body.position,
                len(target.exercises) - 1,
                "position",
                "the group, without the moved exercise,",
            )
            changes.touch(program, at.session)
            target.exercises.insert(where, target.exercises.pop(at.index_in_group))
            rules.customise(program, at.session.id, changes)
            return
        rules.check_group_size(target, 1, "toGroupId")
        where = rules.position(body.position, len(target.exercises), "position", "the group")
        changes.touch(program, at.session)
        changes.touch(program, target_session)
        exercise = rules.remove_from_group(at.session, at.group_index, at.index_in_group, changes)
        target.exercises.insert(where, exercise)
        _customise_both(program, at.session.id, target_session.id, changes)
        return

    assert body.to_new_group_at is not None
    if body.to_session_id is not None:
        _, target_session = program.session(body.to_session_id, path="toSessionId")
    else:
        target_session = at.session
    group_id = rules.new_id(
        program, step.context, body.new_group_id or step.ids.group(), "newGroupId"
    )
    emptied = len(at.group.exercises) == 1 and target_session.id == at.session.id
    groups_after = len(target_session.groups) - (1 if emptied else 0)
    where = rules.position(
        body.to_new_group_at, groups_after, "toNewGroupAt", "the session's groups (after the move)"
    )
    if groups_after + 1 > MAX_GROUPS_PER_SESSION:
        raise InvariantViolated(
            f"session {target_session.id} already has {groups_after} groups; a session holds at "
            f"most {MAX_GROUPS_PER_SESSION}",
            path="toNewGroupAt",
        )
    changes.touch(program, at.session)
    changes.touch(program, target_session)
    exercise = rules.remove_from_group(at.session, at.group_index, at.index_in_group, changes)
    target_session.groups.insert(where, ExerciseGroup(group_id, [exercise]))
    _customise_both(program, at.session.id, target_session.id, changes)


def _customise_both(program: Program, first: UUID, second: UUID, changes: Changes) -> None:
    """exercise.move customises the session it leaves and the one it joins."""
    rules.customise(program, first, changes)
    rules.customise(program, second, changes)


def _exercises_group_ids(body: c.ExercisesGroupBody) -> IdPaths:
    return [("groupId", body.group_id)]


@handles(c.ExercisesGroupBody, reads=its_session, creates=_exercises_group_ids)
def exercises_group(program: Program, body: c.ExercisesGroupBody, step: Step) -> None:
    _, session = program.session(body.session_id)
    group_id = rules.new_id(program, step.context, body.group_id or step.ids.group(), "groupId")
    chosen = set(body.program_exercise_ids)
    where: dict[UUID, int] = {}  # exercise -> index of its group
    for group_index, group in enumerate(session.groups):
        for exercise in group.exercises:
            if exercise.id in chosen:
                where[exercise.id] = group_index
    for at, exercise_id in enumerate(body.program_exercise_ids):
        if exercise_id not in where:
            program.locate(exercise_id, path=f"programExerciseIds[{at}]")  # not_found if absent
            raise InvariantViolated(
                f"program exercise {exercise_id} is not in session {session.id}; move it there "
                "first (exercise.move)",
                path=f"programExerciseIds[{at}]",
            )
    surviving = [
        group_index
        for group_index, group in enumerate(session.groups)
        if any(e.id not in chosen for e in group.exercises)
    ]
    first_group = where[body.program_exercise_ids[0]]
    default_position = sum(1 for group_index in surviving if group_index < first_group)
    at = rules.position(
        body.position if body.position is not None else default_position,
        len(surviving),
        "position",
        "the session's groups (after the exercises left)",
    )
    rules.check_group_count(
        Session(session.id, session.name, [session.groups[i] for i in surviving]), 1
    )
    step.changes.touch(program, session)
    by_id = {e.id: e for e in session.exercises() if e.id in chosen}
    kept: list[ExerciseGroup] = []
    for group in session.groups:
        group.exercises = [e for e in group.exercises if e.id not in chosen]
        if group.exercises:
            kept.append(group)
        else:
            step.changes.deleted_groups.add(group.id)
    kept.insert(at, ExerciseGroup(group_id, [by_id[e] for e in body.program_exercise_ids]))
    session.groups = kept
    rules.customise(program, session.id, step.changes)


def _group_reads(program: Program, body: c.GroupUngroupBody) -> Reads:
    return sessions(program, holding=[body.group_id])


@handles(c.GroupUngroupBody, reads=_group_reads)
def group_ungroup(program: Program, body: c.GroupUngroupBody, step: Step) -> None:
    session, at, group = program.group(body.group_id)
    new_ids = [
        rules.new_id(program, step.context, step.ids.copy_of(e.id), "groupId")
        for e in group.exercises[1:]
    ]
    rules.check_group_count(session, len(new_ids))
    step.changes.touch(program, session)
    first, *others = group.exercises
    # No longer a superset or circuit: the group-level settings go with the grouping.
    singles = [ExerciseGroup(group.id, [first], origin=group.origin)]
    singles += [ExerciseGroup(new_id, [e]) for new_id, e in zip(new_ids, others, strict=True)]
    session.groups[at : at + 1] = singles
    rules.customise(program, session.id, step.changes)


@handles(c.GroupsReorderBody, reads=its_session)
def groups_reorder(program: Program, body: c.GroupsReorderBody, step: Step) -> None:
    _, session = program.session(body.session_id)
    current = {g.id: g for g in session.groups}
    if len(body.group_ids) != len(current) or set(body.group_ids) != set(current):
        missing = [str(g) for g in current if g not in set(body.group_ids)]
        unknown = [str(g) for g in body.group_ids if g not in current]
        raise InvariantViolated(
            "groupIds must be exactly the session's groups, each once, in the new order"
            + (f"; missing {missing}" if missing else "")
            + (f"; not in the session {unknown}" if unknown else "")
            + ("; repeated ids" if not missing and not unknown else ""),
            path="groupIds",
        )
    step.changes.touch(program, session)
    session.groups = [current[g] for g in body.group_ids]
    rules.customise(program, session.id, step.changes)


@handles(c.GroupUpdateBody)
def group_update(program: Program, body: c.GroupUpdateBody, step: Step) -> None:
    session, _, group = program.group(body.group_id)
    step.changes.touch(program, session)
    group.settings = group.settings.updated(body)
    rules.customise(program, session.id, step.changes)


def _session_copy_ids(body: c.SessionCopyBody) -> IdPaths:
    return [("newSessionId", body.new_session_id)]


@handles(c.SessionCopyBody, reads=its_session, creates=_session_copy_ids)
def session_copy(program: Program, body: c.SessionCopyBody, step: Step) -> None:
    ids, context = step.ids, step.context
    at, source = program.session(body.session_id)
    rules.check_session_count(program)
    rules.new_id(program, context, body.new_session_id, "newSessionId")
    where = rules.position(
        body.position if body.position is not None else at + 1,
        len(program.sessions),
        "position",
        "the program's sessions",
    )
    groups: list[ExerciseGroup] = []
    for group in source.groups:
        members: list[ProgramExercise] = []
        for exercise in group.exercises:
            copy_id = rules.new_id(program, context, ids.copy_of(exercise.id), "newSessionId")
            # notes ... warmup too; a copied session is the copy's own (no origin)
            members.append(replace(exercise, id=copy_id, origin=None))
            program.loaded.add(copy_id)
            program.prescriptions[copy_id] = {
                week: Prescription(ids.copy_of(p.id), copy_id, week, 0, p.series)
                for week, p in program.prescriptions_of(exercise.id).items()
            }
        groups.append(
            ExerciseGroup(
                rules.new_id(program, context, ids.copy_of(group.id), "newSessionId"),
                members,
                group.settings,
            )
        )
    # The day of the week comes along; the reschedulings stay with the source.
    copy = Session(
        body.new_session_id, body.name or source.name, groups, day_offset=source.day_offset
    )
    rules.insert_session(program, copy, where, step.changes)


@handles(c.ExerciseUpdateBody, reads=its_exercise)
def exercise_update(program: Program, body: c.ExerciseUpdateBody, step: Step) -> None:
    """Changes the program exercise in place: its group, position and prescriptions stay. A new
    `exerciseId` changes every prescription's event (its exerciseId and resolved loads); a new
    `warmup` those whose warm-up sets it changes."""
    at = program.locate(body.program_exercise_id)
    given = body.model_fields_set
    exercise = at.exercise
    changed = replace(
        exercise,
        exercise_id=body.exercise_id if body.exercise_id is not None else exercise.exercise_id,
        name=body.name if body.name is not None else exercise.name,
        notes=body.notes if "notes" in given else exercise.notes,
        alternatives=tuple(body.alternatives or ())
        if "alternatives" in given
        else exercise.alternatives,
        progression=body.progression if "progression" in given else exercise.progression,
        warmup=body.warmup if "warmup" in given else exercise.warmup,
    )
    for index, alternative in enumerate(changed.alternatives):
        if alternative.exercise_id == changed.exercise_id:
            path = (
                "exerciseId" if "alternatives" not in given else f"alternatives[{index}].exerciseId"
            )
            raise InvariantViolated(
                f"exercise {changed.exercise_id} would be an alternative of itself: it is "
                f"alternatives[{index}] of program exercise {exercise.id}; give alternatives "
                "without it in the same command",
                path=path,
            )
    step.changes.touch(program, at.session)
    at.group.exercises[at.index_in_group] = changed
    rules.customise(program, at.session.id, step.changes)
    if changed.exercise_id != exercise.exercise_id:
        for week in program.prescriptions_of(exercise.id):
            step.changes.series_changed(exercise.id, week)
    elif changed.warmup != exercise.warmup:
        # Same catalog exercise, same loads: only the warm-up sets can differ.
        resolution = resolution_of(program.athlete)
        for week, prescription in program.prescriptions_of(exercise.id).items():
            series = prescription.series
            resolved = resolve_series(resolution, series, exercise.exercise_id)
            if warmups_of(resolution, exercise, series, resolved) != warmups_of(
                resolution, changed, series, resolved
            ):
                step.changes.series_changed(exercise.id, week)
