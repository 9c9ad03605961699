"""Checks every command family shares: new ids, insert positions and indexes, weeks, limits.

Each raises the contract's rejection with the path of the offending field and the limit it
broke, so a client can fix its command from the message alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from uuid import UUID

from contracts.commands import (
    MAX_EXERCISES_PER_GROUP,
    MAX_GROUPS_PER_SESSION,
    MAX_SESSIONS_PER_PROGRAM,
)
from contracts.series import PrescriptionSeriesData
from service.domain.changes import Changes
from service.domain.commands.registry import Context
from service.domain.errors import Conflict, InvariantViolated
from service.domain.model import (
    ExerciseGroup,
    Program,
    ProgramExercise,
    Session,
    SetData,
    with_order_index,
)


def new_id(program: Program, context: Context, entity_id: UUID, path: str) -> UUID:
    if context.id_taken(entity_id) or program.contains_id(entity_id):
        raise Conflict(f"id {entity_id} is already in use", path=path)
    return entity_id


def position(value: int | None, length: int, path: str, what: str) -> int:
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


def index(value: int, length: int, path: str, what: str) -> int:
    if value >= length:
        largest = f"the largest index is {length - 1}" if length else "it is empty"
        raise InvariantViolated(
            f"{path} {value} does not exist: {what} has {length}; {largest}", path=path
        )
    return value


def check_week(program: Program, week: int, path: str = "week") -> None:
    if week >= program.weeks:
        raise InvariantViolated(
            f"{path} {week} is outside the program, which has {program.weeks} weeks (0.."
            f"{program.weeks - 1})",
            path=path,
        )


def check_session_count(program: Program) -> None:
    if len(program.sessions) >= MAX_SESSIONS_PER_PROGRAM:
        raise InvariantViolated(
            f"program {program.id} already has {len(program.sessions)} sessions; a program holds "
            f"at most {MAX_SESSIONS_PER_PROGRAM}"
        )


def check_group_count(session: Session, adding: int, path: str = "") -> None:
    if len(session.groups) + adding > MAX_GROUPS_PER_SESSION:
        raise InvariantViolated(
            f"session {session.id} would have {len(session.groups) + adding} groups; a session "
            f"holds at most {MAX_GROUPS_PER_SESSION}",
            path=path,
        )


def check_group_size(group: ExerciseGroup, adding: int, path: str) -> None:
    if len(group.exercises) + adding > MAX_EXERCISES_PER_GROUP:
        raise InvariantViolated(
            f"group {group.id} already holds {len(group.exercises)} exercises; a group holds at "
            f"most {MAX_EXERCISES_PER_GROUP}",
            path=path,
        )


def wire_series(series: list[PrescriptionSeriesData]) -> tuple[SetData, ...]:
    return tuple(wire_set(item, at) for at, item in enumerate(series))


def wire_set(item: PrescriptionSeriesData, at: int) -> SetData:
    return with_order_index(item.to_wire(), at)


def renumbered(series: list[SetData]) -> tuple[SetData, ...]:
    return tuple(
        item if item.get("orderIndex") == at else with_order_index(item, at)
        for at, item in enumerate(series)
    )


def remove_from_group(
    session: Session, group_index: int, index_in_group: int, changes: Changes
) -> ProgramExercise:
    """Take an exercise out of its group; an emptied group is deleted."""
    group = session.groups[group_index]
    exercise = group.exercises.pop(index_in_group)
    if not group.exercises:
        session.groups.pop(group_index)
        changes.deleted_groups.add(group.id)
    return exercise


def insert_session(program: Program, session: Session, at: int, changes: Changes) -> None:
    for shifted in program.sessions[at:]:
        changes.touch(program, shifted)
    program.sessions.insert(at, session)
    changes.touch_new(session)
    changes.program_row = True  # its session order changed


def customise(program: Program, session_id: UUID, changes: Changes) -> None:
    """An operation of the copy named this session or something in it: a session with an
    origin is customised from now on (a sync then keeps it), and announced when it becomes so.
    Call once the operation can no longer be rejected. The session is replaced, not changed in
    place: a series edit applies to the program itself, whose earlier state is kept (history)."""
    if program.source is None:
        return  # not a copy: no session has an origin
    for at, session in enumerate(program.sessions):
        if session.id == session_id:
            if session.origin is not None and not session.customised:
                changes.touch(program, session)
                program.sessions[at] = replace(session, customised=True)
            return


def customise_holding(program: Program, program_exercise_id: UUID, changes: Changes) -> None:
    """`customise` the session that holds this program exercise."""
    if program.source is not None:
        customise(program, program.locate(program_exercise_id).session.id, changes)


def move_reschedulings(
    program: Program, changes: Changes, moved: Callable[[Mapping[int, date]], dict[int, date]]
) -> None:
    """Each session's reschedulings after weeks moved or were dropped, as their labels were
    (`service.domain.calendar`); a session whose reschedulings change is announced."""
    for session in program.sessions:
        after = moved(session.rescheduled)
        if after != session.rescheduled:
            changes.touch(program, session)
            session.rescheduled = after  # replaced, not changed in place: events hold the old
