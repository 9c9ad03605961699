"""One function per command: check the contract's rules against the program, then change it.

`apply` is the single entry: it checks ownership and `expectedVersion`, runs the command on a
copy of the aggregate (series edits replace one immutable prescription, so they need none), and
returns the new program with what changed and the events that announce it. A `Rejection` leaves
the caller's program untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from contracts import commands as c
from contracts.commands import (
    MAX_EXERCISES_PER_GROUP,
    MAX_GROUPS_PER_SESSION,
    MAX_SESSIONS_PER_PROGRAM,
)
from contracts.parsing import error_details
from contracts.series import MAX_SETS_PER_SERIES, PrescriptionSeriesData
from contracts.snapshots import LegacyProgramSnapshot
from service.domain.changes import Changes, Event, announce
from service.domain.errors import (
    Conflict,
    InvariantViolated,
    NotFound,
    Rejection,
    ValidationFailed,
)
from service.domain.ids import IdDeriver
from service.domain.imports import program_from_snapshot
from service.domain.model import (
    ExerciseGroup,
    Prescription,
    Program,
    ProgramExercise,
    Session,
    SetData,
    with_order_index,
)

SERIES_COMMANDS = (c.SeriesReplace, c.SeriesAdd, c.SeriesUpdate, c.SeriesRemove, c.SeriesMove)


@dataclass(frozen=True, slots=True)
class Context:
    """What a command may know besides the program: the time and which ids are taken elsewhere."""

    now: datetime
    id_taken: Callable[[UUID], bool]


@dataclass(frozen=True, slots=True)
class Applied:
    program: Program
    changes: Changes
    events: list[Event]


ALL_EXERCISES = None


def required_exercises(program: Program | None, command: c.Command) -> set[UUID] | None:
    """The exercises whose prescriptions the command reads (None: all of the program's)."""
    if program is None or isinstance(command, c.ProgramCreate | c.ProgramImport):
        return set()
    bodies: list[Any] = list(command.operations) if isinstance(command, c.Batch) else [command]
    needed: set[UUID] = set()
    for body in bodies:
        if isinstance(body, c.ProgramRepublishBody):
            return ALL_EXERCISES
        if isinstance(body, c.ProgramUpdateBody):
            if body.weeks is not None and body.weeks < program.weeks:
                return ALL_EXERCISES
            continue
        if isinstance(body, c.SessionAddBody | c.GroupUpdateBody):
            continue
        if isinstance(
            body,
            c.SeriesReplaceBody
            | c.SeriesAddBody
            | c.SeriesUpdateBody
            | c.SeriesRemoveBody
            | c.SeriesMoveBody,
        ):
            needed.add(body.program_exercise_id)
            continue
        # Structure changes announce every exercise that shifts in the sessions they touch.
        for session_id in _sessions_named(program, body):
            needed |= {e.id for s in program.sessions if s.id == session_id for e in s.exercises()}
    return needed


def _sessions_named(program: Program, body: Any) -> set[UUID]:
    sessions: set[UUID] = set()
    for name in ("session_id", "to_session_id"):
        value = getattr(body, name, None)
        if value is not None:
            sessions.add(value)
    exercise_ids = set(getattr(body, "program_exercise_ids", None) or ())
    if getattr(body, "program_exercise_id", None) is not None:
        exercise_ids.add(body.program_exercise_id)
    group_ids = {
        g for g in (getattr(body, "group_id", None), getattr(body, "to_group_id", None)) if g
    }
    for session in program.sessions:
        for group in session.groups:
            if group.id in group_ids or any(e.id in exercise_ids for e in group.exercises):
                sessions.add(session.id)
    return sessions


def apply(program: Program | None, command: c.Command, context: Context) -> Applied:
    """Apply one command to `program` (None when it does not exist). Raises `Rejection`."""
    ids = IdDeriver(command.command_id)
    if isinstance(command, c.ProgramCreate | c.ProgramImport):
        if program is not None:
            raise Conflict(f"program {command.program_id} already exists", path="programId")
        return _create(command, context, ids)

    if program is None or program.tenant_id != command.tenant_id:
        # The same answer whether the program is missing or another tenant's: no hint it exists.
        raise NotFound(
            f"program {command.program_id} not found for tenant {command.tenant_id!r}",
            path="programId",
        )
    if command.expected_version is not None and command.expected_version != program.version:
        raise Conflict(
            f"expectedVersion is {command.expected_version} but program {program.id} is at "
            f"version {program.version}",
            path="expectedVersion",
        )

    changes = Changes()
    if isinstance(command, c.ProgramRepublish):
        changes.republish = True
        return Applied(
            program, changes, announce(program, changes, command.command_id, context.now)
        )

    target = program if isinstance(command, SERIES_COMMANDS) else program.copy()
    if isinstance(command, c.Batch):
        for index, operation in enumerate(command.operations):
            try:
                _apply_body(target, operation, changes, context, ids.for_operation(index))
            except Rejection as rejection:
                raise rejection.prefixed(f"operations[{index}].") from None
    else:
        _apply_body(target, command, changes, context, ids)
    target.version += 1
    return Applied(target, changes, announce(target, changes, command.command_id, context.now))


def _create(
    command: c.ProgramCreate | c.ProgramImport, context: Context, ids: IdDeriver
) -> Applied:
    changes = Changes(program_row=True)
    if isinstance(command, c.ProgramCreate):
        program = Program(command.program_id, command.tenant_id, command.name, command.weeks, 1)
    else:
        program = program_from_snapshot(command.program_id, command.tenant_id, command.program, ids)
        for path, entity_id in _snapshot_ids(command):
            if context.id_taken(entity_id):
                raise Conflict(f"id {entity_id} is already in use", path=path)
        for session in program.sessions:
            changes.touch_new(session)
    return Applied(program, changes, announce(program, changes, command.command_id, context.now))


def _snapshot_ids(command: c.ProgramImport) -> list[tuple[str, UUID]]:
    found: list[tuple[str, UUID]] = []
    snapshot = command.program
    if isinstance(snapshot, LegacyProgramSnapshot):
        for s, legacy in enumerate(snapshot.sessions):
            found.append((f"program.sessions[{s}].sessionId", legacy.session_id))
            found += [
                (f"program.sessions[{s}].exercises[{e}].programExerciseId", ex.program_exercise_id)
                for e, ex in enumerate(legacy.exercises)
            ]
        return found
    for s, session in enumerate(snapshot.sessions):
        found.append((f"program.sessions[{s}].sessionId", session.session_id))
        for g, group in enumerate(session.groups):
            found.append((f"program.sessions[{s}].groups[{g}].groupId", group.group_id))
            found += [
                (
                    f"program.sessions[{s}].groups[{g}].exercises[{e}].programExerciseId",
                    ex.program_exercise_id,
                )
                for e, ex in enumerate(group.exercises)
            ]
    return found


# --- helpers shared by the commands


def _new_id(program: Program, context: Context, entity_id: UUID, path: str) -> UUID:
    if context.id_taken(entity_id) or program.contains_id(entity_id):
        raise Conflict(f"id {entity_id} is already in use", path=path)
    return entity_id


def _position(value: int | None, length: int, path: str, what: str) -> int:
    """A 0-based insert position: equal to `length` appends; larger does not exist."""
    if value is None:
        return length
    if value > length:
        raise InvariantViolated(
            f"{path} {value} does not exist: {what} has {length}, so the largest position is "
            f"{length} (append)",
            path=path,
        )
    return value


def _index(value: int, length: int, path: str, what: str) -> int:
    if value >= length:
        largest = f"the largest index is {length - 1}" if length else "it is empty"
        raise InvariantViolated(
            f"{path} {value} does not exist: {what} has {length}; {largest}", path=path
        )
    return value


def _check_week(program: Program, week: int) -> None:
    if week >= program.weeks:
        raise InvariantViolated(
            f"week {week} is outside the program, which has {program.weeks} weeks (0.."
            f"{program.weeks - 1})",
            path="week",
        )


def _wire_series(series: list[PrescriptionSeriesData]) -> tuple[SetData, ...]:
    return tuple(_wire_set(item, index) for index, item in enumerate(series))


def _wire_set(item: PrescriptionSeriesData, index: int) -> SetData:
    return with_order_index(item.to_wire(), index)


def _renumbered(series: list[SetData]) -> tuple[SetData, ...]:
    return tuple(
        item if item.get("orderIndex") == index else with_order_index(item, index)
        for index, item in enumerate(series)
    )


def _remove_exercise_from_group(
    program: Program, session: Session, group_index: int, exercise_index: int, changes: Changes
) -> ProgramExercise:
    """Take an exercise out of its group; an emptied group is deleted."""
    group = session.groups[group_index]
    exercise = group.exercises.pop(exercise_index)
    if not group.exercises:
        session.groups.pop(group_index)
        changes.deleted_groups.add(group.id)
    return exercise


def _check_group_count(session: Session, adding: int) -> None:
    if len(session.groups) + adding > MAX_GROUPS_PER_SESSION:
        raise InvariantViolated(
            f"session {session.id} would have {len(session.groups) + adding} groups; a session "
            f"holds at most {MAX_GROUPS_PER_SESSION}"
        )


def _check_group_size(group: ExerciseGroup, adding: int) -> None:
    if len(group.exercises) + adding > MAX_EXERCISES_PER_GROUP:
        raise InvariantViolated(
            f"group {group.id} already holds {len(group.exercises)} exercises; a group holds at "
            f"most {MAX_EXERCISES_PER_GROUP}",
            path="groupId",
        )


# --- the commands


def _apply_body(
    program: Program, body: Any, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    for kind in type(body).__mro__:  # a full command is its body plus the envelope
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(program, body, changes, context, ids)
            return
    raise TypeError(f"no handler for {type(body).__name__}")


def _program_update(
    program: Program, body: c.ProgramUpdateBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    changes.program_row = True
    if body.name is not None:
        program.name = body.name
    if body.weeks is not None and body.weeks < program.weeks:
        for session in program.sessions:
            for exercise in session.exercises():
                by_week = program.prescriptions_of(exercise.id)
                for week in [w for w in by_week if w >= body.weeks]:
                    changes.delete_prescription(by_week.pop(week), exercise, session.id)
    if body.weeks is not None:
        program.weeks = body.weeks


def _session_add(
    program: Program, body: c.SessionAddBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    if len(program.sessions) >= MAX_SESSIONS_PER_PROGRAM:
        raise InvariantViolated(
            f"program {program.id} already has {len(program.sessions)} sessions; a program holds "
            f"at most {MAX_SESSIONS_PER_PROGRAM}"
        )
    _new_id(program, context, body.session_id, "sessionId")
    position = _position(body.position, len(program.sessions), "position", "the program's sessions")
    _insert_session(program, Session(body.session_id, body.name, []), position, changes)


def _insert_session(program: Program, session: Session, position: int, changes: Changes) -> None:
    for shifted in program.sessions[position:]:
        changes.touch(program, shifted)
    program.sessions.insert(position, session)
    changes.touch_new(session)


def _session_remove(
    program: Program, body: c.SessionRemoveBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    index, session = program.session(body.session_id)
    changes.delete_session(program, session, index)
    for shifted in program.sessions[index + 1 :]:
        changes.touch(program, shifted)
    program.sessions.pop(index)
    for exercise in session.exercises():
        program.prescriptions.pop(exercise.id, None)


def _exercise_add(
    program: Program, body: c.ExerciseAddBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    _, session = program.session(body.session_id)
    _new_id(program, context, body.program_exercise_id, "programExerciseId")
    exercise = ProgramExercise(body.program_exercise_id, body.exercise_id, body.name)
    if body.group_id is not None:
        group_session, _, group = program.group(body.group_id)
        if group_session.id != session.id:
            raise NotFound(
                f"exercise group {body.group_id} is not in session {session.id}", path="groupId"
            )
        _check_group_size(group, 1)
        position = _position(body.position, len(group.exercises), "position", "the group")
        changes.touch(program, session)
        group.exercises.insert(position, exercise)
    else:
        group_id = _new_id(program, context, body.new_group_id or ids.group(), "newGroupId")
        _check_group_count(session, 1)
        position = _position(body.position, len(session.groups), "position", "the session's groups")
        changes.touch(program, session)
        session.groups.insert(position, ExerciseGroup(group_id, [exercise]))
    program.loaded.add(exercise.id)
    program.prescriptions[exercise.id] = {
        0: Prescription(
            ids.prescription(exercise.id, 0), exercise.id, 0, 0, _wire_series(body.series)
        )
    }
    changes.series_changed(exercise.id, 0)


def _exercise_remove(
    program: Program, body: c.ExerciseRemoveBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    at = program.locate(body.program_exercise_id)
    changes.touch(program, at.session)
    changes.delete_exercise(program, at.exercise, at.session.id)
    _remove_exercise_from_group(program, at.session, at.group_index, at.index_in_group, changes)
    program.prescriptions.pop(at.exercise.id, None)


def _exercise_move(
    program: Program, body: c.ExerciseMoveBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    at = program.locate(body.program_exercise_id)
    if body.to_group_id is not None:
        target_session, _, target = program.group(body.to_group_id, path="toGroupId")
        if target.id == at.group.id:
            position = _position(
                body.position,
                len(target.exercises) - 1,
                "position",
                "the group, without the moved exercise,",
            )
            changes.touch(program, at.session)
            target.exercises.insert(position, target.exercises.pop(at.index_in_group))
            return
        _check_group_size(target, 1)
        position = _position(body.position, len(target.exercises), "position", "the group")
        changes.touch(program, at.session)
        changes.touch(program, target_session)
        exercise = _remove_exercise_from_group(
            program, at.session, at.group_index, at.index_in_group, changes
        )
        target.exercises.insert(position, exercise)
        return

    assert body.to_new_group_at is not None
    if body.to_session_id is not None:
        _, target_session = program.session(body.to_session_id, path="toSessionId")
    else:
        target_session = at.session
    group_id = _new_id(program, context, body.new_group_id or ids.group(), "newGroupId")
    emptied = len(at.group.exercises) == 1 and target_session.id == at.session.id
    groups_after = len(target_session.groups) - (1 if emptied else 0)
    position = _position(
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
    exercise = _remove_exercise_from_group(
        program, at.session, at.group_index, at.index_in_group, changes
    )
    target_session.groups.insert(position, ExerciseGroup(group_id, [exercise]))


def _exercises_group(
    program: Program, body: c.ExercisesGroupBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    _, session = program.session(body.session_id)
    group_id = _new_id(program, context, body.group_id or ids.group(), "groupId")
    chosen = set(body.program_exercise_ids)
    where: dict[UUID, int] = {}  # exercise -> index of its group
    for group_index, group in enumerate(session.groups):
        for exercise in group.exercises:
            if exercise.id in chosen:
                where[exercise.id] = group_index
    for index, exercise_id in enumerate(body.program_exercise_ids):
        if exercise_id not in where:
            program.locate(exercise_id, path=f"programExerciseIds[{index}]")  # not_found if absent
            raise InvariantViolated(
                f"program exercise {exercise_id} is not in session {session.id}; move it there "
                "first (exercise.move)",
                path=f"programExerciseIds[{index}]",
            )
    surviving = [
        group_index
        for group_index, group in enumerate(session.groups)
        if any(e.id not in chosen for e in group.exercises)
    ]
    first_group = where[body.program_exercise_ids[0]]
    default_position = sum(1 for group_index in surviving if group_index < first_group)
    position = _position(
        body.position if body.position is not None else default_position,
        len(surviving),
        "position",
        "the session's groups (after the exercises left)",
    )
    _check_group_count(Session(session.id, session.name, [session.groups[i] for i in surviving]), 1)
    changes.touch(program, session)
    by_id = {e.id: e for e in session.exercises() if e.id in chosen}
    kept: list[ExerciseGroup] = []
    for group in session.groups:
        group.exercises = [e for e in group.exercises if e.id not in chosen]
        if group.exercises:
            kept.append(group)
        else:
            changes.deleted_groups.add(group.id)
    kept.insert(position, ExerciseGroup(group_id, [by_id[e] for e in body.program_exercise_ids]))
    session.groups = kept


def _group_ungroup(
    program: Program, body: c.GroupUngroupBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    session, index, group = program.group(body.group_id)
    new_ids = [_new_id(program, context, ids.copy_of(e.id), "groupId") for e in group.exercises[1:]]
    _check_group_count(session, len(new_ids))
    changes.touch(program, session)
    first, *others = group.exercises
    # No longer a superset or circuit: the group-level settings go with the grouping.
    singles = [ExerciseGroup(group.id, [first])]
    singles += [ExerciseGroup(new_id, [e]) for new_id, e in zip(new_ids, others, strict=True)]
    session.groups[index : index + 1] = singles


def _groups_reorder(
    program: Program, body: c.GroupsReorderBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
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
    changes.touch(program, session)
    session.groups = [current[g] for g in body.group_ids]


def _group_update(
    program: Program, body: c.GroupUpdateBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    session, _, group = program.group(body.group_id)
    changes.touch(program, session)
    for name in ("rounds", "rest_between_rounds_seconds", "notes"):
        if name in body.model_fields_set:
            setattr(group, name, getattr(body, name))


def _session_copy(
    program: Program, body: c.SessionCopyBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    index, source = program.session(body.session_id)
    if len(program.sessions) >= MAX_SESSIONS_PER_PROGRAM:
        raise InvariantViolated(
            f"program {program.id} already has {len(program.sessions)} sessions; a program holds "
            f"at most {MAX_SESSIONS_PER_PROGRAM}"
        )
    _new_id(program, context, body.new_session_id, "newSessionId")
    position = _position(
        body.position if body.position is not None else index + 1,
        len(program.sessions),
        "position",
        "the program's sessions",
    )
    groups: list[ExerciseGroup] = []
    for group in source.groups:
        members: list[ProgramExercise] = []
        for exercise in group.exercises:
            copy_id = _new_id(program, context, ids.copy_of(exercise.id), "newSessionId")
            members.append(ProgramExercise(copy_id, exercise.exercise_id, exercise.name))
            program.loaded.add(copy_id)
            program.prescriptions[copy_id] = {
                week: Prescription(ids.copy_of(p.id), copy_id, week, 0, p.series)
                for week, p in program.prescriptions_of(exercise.id).items()
            }
        groups.append(
            ExerciseGroup(
                _new_id(program, context, ids.copy_of(group.id), "newSessionId"),
                members,
                group.rounds,
                group.rest_between_rounds_seconds,
                group.notes,
            )
        )
    _insert_session(
        program, Session(body.new_session_id, body.name or source.name, groups), position, changes
    )


# --- series edits: each replaces one immutable prescription, so a rejection changes nothing


def _prescription(
    program: Program, body: Any, changes: Changes, *, create: bool, ids: IdDeriver
) -> tuple[dict[int, Prescription], Prescription]:
    _check_week(program, body.week)
    program.locate(body.program_exercise_id)
    by_week = program.prescriptions_of(body.program_exercise_id)
    current = by_week.get(body.week)
    if current is None:
        if not create:
            raise NotFound(
                f"program exercise {body.program_exercise_id} has no prescription for week "
                f"{body.week}; write it first with series.replace",
                path="week",
            )
        current = Prescription(
            ids.prescription(body.program_exercise_id, body.week),
            body.program_exercise_id,
            body.week,
            0,
            (),
        )
    return by_week, current


def _store_series(
    by_week: dict[int, Prescription],
    current: Prescription,
    series: tuple[SetData, ...],
    changes: Changes,
) -> None:
    by_week[current.week] = Prescription(
        current.id, current.program_exercise_id, current.week, current.version, series
    )
    changes.series_changed(current.program_exercise_id, current.week)


def _series_replace(
    program: Program, body: c.SeriesReplaceBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    by_week, current = _prescription(program, body, changes, create=True, ids=ids)
    _store_series(by_week, current, _wire_series(body.series), changes)


def _series_add(
    program: Program, body: c.SeriesAddBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    by_week, current = _prescription(program, body, changes, create=False, ids=ids)
    if len(current.series) >= MAX_SETS_PER_SERIES:
        raise InvariantViolated(
            f"the series of week {body.week} already has {len(current.series)} sets; a series "
            f"holds at most {MAX_SETS_PER_SERIES}",
            path="set",
        )
    given = body.set.order_index
    if body.position is not None and given is not None and given != body.position:
        raise ValidationFailed(
            f"set.orderIndex ({given}) must equal position ({body.position}) when both are given",
            path="set.orderIndex",
        )
    wanted = body.position if body.position is not None else given
    position = _position(wanted, len(current.series), "position", "the series")
    series = list(current.series)
    series.insert(position, _wire_set(body.set, position))
    _store_series(by_week, current, _renumbered(series), changes)


def _series_update(
    program: Program, body: c.SeriesUpdateBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    by_week, current = _prescription(program, body, changes, create=False, ids=ids)
    index = _index(body.index, len(current.series), "index", "the series")
    if body.set.order_index is not None and body.set.order_index != index:
        raise ValidationFailed(
            f"set.orderIndex ({body.set.order_index}) must equal index ({index}) or be left out",
            path="set.orderIndex",
        )
    stored = PrescriptionSeriesData.model_validate(current.series[index], strict=False)
    try:
        merged = PrescriptionSeriesData.model_validate(body.set.merged_into(stored), strict=False)
    except ValidationError as invalid:
        reasons = "; ".join(d.reason for d in error_details(invalid))
        raise InvariantViolated(
            f"the set at index {index} with these changes would break a rule: {reasons} "
            "(send null for the fields to clear, e.g. repsMin: null, repsMax: null with reps)",
            path="set",
        ) from None
    series = list(current.series)
    series[index] = _wire_set(merged, index)
    _store_series(by_week, current, tuple(series), changes)


def _series_remove(
    program: Program, body: c.SeriesRemoveBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    by_week, current = _prescription(program, body, changes, create=False, ids=ids)
    index = _index(body.index, len(current.series), "index", "the series")
    series = list(current.series)
    series.pop(index)
    _store_series(by_week, current, _renumbered(series), changes)


def _series_move(
    program: Program, body: c.SeriesMoveBody, changes: Changes, context: Context, ids: IdDeriver
) -> None:
    by_week, current = _prescription(program, body, changes, create=False, ids=ids)
    source = _index(body.from_, len(current.series), "from", "the series")
    target = _index(body.to, len(current.series), "to", "the series")
    series = list(current.series)
    series.insert(target, series.pop(source))
    _store_series(by_week, current, _renumbered(series), changes)


_HANDLERS: dict[type, Callable[..., None]] = {
    c.ProgramUpdateBody: _program_update,
    c.SessionAddBody: _session_add,
    c.SessionRemoveBody: _session_remove,
    c.ExerciseAddBody: _exercise_add,
    c.ExerciseRemoveBody: _exercise_remove,
    c.ExerciseMoveBody: _exercise_move,
    c.ExercisesGroupBody: _exercises_group,
    c.GroupUngroupBody: _group_ungroup,
    c.GroupsReorderBody: _groups_reorder,
    c.GroupUpdateBody: _group_update,
    c.SessionCopyBody: _session_copy,
    c.SeriesReplaceBody: _series_replace,
    c.SeriesAddBody: _series_add,
    c.SeriesUpdateBody: _series_update,
    c.SeriesRemoveBody: _series_remove,
    c.SeriesMoveBody: _series_move,
}
