"""`program.import`: a v1 snapshot taken as it is, or a legacy one converted as CONTRACT.md says.

Legacy conversion: exercises in `orderIndex` order; those of a session sharing a non-null
`supersetGroup` form one group placed where its first member stands, members ordered by
`supersetOrder` (ties by `orderIndex`); a null `supersetGroup` is a standalone group. Each split
row stands for `sets` identical sets, rows of one week concatenated in their order.
"""

from __future__ import annotations

import functools
from uuid import UUID

from pydantic import ValidationError

from contracts.commands import MAX_EXERCISES_PER_GROUP, MAX_GROUPS_PER_SESSION
from contracts.parsing import error_details
from contracts.series import PrescriptionSeriesData
from contracts.snapshots import (
    LegacyExercise,
    LegacyPrescriptionRow,
    LegacyProgramSnapshot,
    ProgramSnapshotV1,
)
from service.domain.errors import ValidationFailed
from service.domain.ids import IdDeriver
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    Program,
    ProgramExercise,
    Session,
    SetData,
    normalized_athlete,
    with_order_index,
)


def fill_from_snapshot(
    program: Program, snapshot: ProgramSnapshotV1 | LegacyProgramSnapshot, ids: IdDeriver
) -> None:
    """Give the new (empty) `program` the snapshot's name, weeks, sessions and prescriptions."""
    program.name = snapshot.name
    program.weeks = snapshot.weeks
    if isinstance(snapshot, LegacyProgramSnapshot):
        _convert_legacy(program, snapshot, ids)
        return
    program.week_labels = {label.week: label.label for label in snapshot.week_labels}
    program.athlete = normalized_athlete(snapshot.athlete) if snapshot.athlete is not None else None
    program.start_date = snapshot.start_date
    for session_snapshot in snapshot.sessions:
        groups: list[ExerciseGroup] = []
        for group_snapshot in session_snapshot.groups:
            members: list[ProgramExercise] = []
            for exercise in group_snapshot.exercises:
                members.append(
                    ProgramExercise(
                        exercise.program_exercise_id,
                        exercise.exercise_id,
                        exercise.name,
                        exercise.notes,
                        tuple(exercise.alternatives),
                        exercise.progression,
                        exercise.warmup,
                    )
                )
                by_week = {
                    p.week: tuple(with_order_index(s.to_wire(), i) for i, s in enumerate(p.series))
                    for p in exercise.prescriptions
                }
                _add_prescriptions(program, exercise.program_exercise_id, by_week, ids)
            groups.append(
                ExerciseGroup(
                    group_snapshot.group_id,
                    members,
                    GroupSettings.of(group_snapshot),
                )
            )
        program.sessions.append(
            Session(
                session_snapshot.session_id,
                session_snapshot.name,
                groups,
                session_snapshot.day_offset,
                {moved.week: moved.date for moved in session_snapshot.rescheduled},
            )
        )


def _add_prescriptions(
    program: Program, exercise_id: UUID, by_week: dict[int, tuple[SetData, ...]], ids: IdDeriver
) -> None:
    by_week.setdefault(0, ())  # every program exercise has a week-0 prescription
    program.loaded.add(exercise_id)
    program.prescriptions[exercise_id] = {
        week: Prescription(ids.prescription(exercise_id, week), exercise_id, week, 0, series)
        for week, series in sorted(by_week.items())
    }


def _convert_legacy(program: Program, snapshot: LegacyProgramSnapshot, ids: IdDeriver) -> None:
    for s, legacy_session in enumerate(snapshot.sessions):
        at = f"program.sessions[{s}]"
        positions = {id(e): i for i, e in enumerate(legacy_session.exercises)}
        ordered = sorted(legacy_session.exercises, key=lambda e: e.order_index)
        slots: list[list[LegacyExercise]] = []  # groups in the order of their first member
        by_superset: dict[int, list[LegacyExercise]] = {}
        for exercise in ordered:
            if exercise.superset_group is None:
                slots.append([exercise])
            elif exercise.superset_group in by_superset:
                by_superset[exercise.superset_group].append(exercise)
            else:
                by_superset[exercise.superset_group] = [exercise]
                slots.append(by_superset[exercise.superset_group])
        if len(slots) > MAX_GROUPS_PER_SESSION:
            raise ValidationFailed(
                f"{at} forms {len(slots)} groups; a session holds at most {MAX_GROUPS_PER_SESSION}",
                path=f"{at}.exercises",
            )
        groups: list[ExerciseGroup] = []
        for members in slots:
            members.sort(key=_superset_order)
            if len(members) > MAX_EXERCISES_PER_GROUP:
                last = positions[id(members[-1])]
                raise ValidationFailed(
                    f"supersetGroup {members[0].superset_group} of {at} has {len(members)} "
                    f"exercises; a group holds at most {MAX_EXERCISES_PER_GROUP}",
                    path=f"{at}.exercises[{last}].supersetGroup",
                )
            for exercise in members:
                row_path = f"{at}.exercises[{positions[id(exercise)]}].prescriptionRows"
                _add_prescriptions(
                    program,
                    exercise.program_exercise_id,
                    _series_from_rows(exercise.prescription_rows, row_path),
                    ids,
                )
            groups.append(
                ExerciseGroup(
                    ids.legacy_group(members[0].program_exercise_id),
                    [
                        ProgramExercise(e.program_exercise_id, e.exercise_id, e.name)
                        for e in members
                    ],
                )
            )
        program.sessions.append(Session(legacy_session.session_id, legacy_session.name, groups))


def _superset_order(exercise: LegacyExercise) -> tuple[bool, int, int]:
    order = exercise.superset_order
    return (order is None, order if order is not None else 0, exercise.order_index)


def _series_from_rows(
    rows: list[LegacyPrescriptionRow], path: str
) -> dict[int, tuple[SetData, ...]]:
    by_week: dict[int, list[SetData]] = {}
    for r, row in enumerate(rows):
        try:
            one_set = _converted_set(
                _exact(row.reps), _exact(row.weight), _exact(row.rpe), _exact(row.rest_seconds)
            )
        except ValidationError as invalid:
            detail = error_details(invalid)[0]
            raise ValidationFailed(
                f"{path}[{r}] does not convert to a valid set: {detail.reason}",
                path=f"{path}[{r}]" + (f".{detail.path}" if detail.path else ""),
                reason=detail.reason,
            ) from None
        sets = by_week.setdefault(row.week, [])
        for _ in range(row.sets):  # `orderIndex` first, as `with_order_index` puts it
            item = {"orderIndex": len(sets), **one_set}
            if "load" in item:  # no set shares a mutable part with another (or the cache)
                item["load"] = dict(item["load"])
            sets.append(item)
    return {week: tuple(sets) for week, sets in by_week.items()}


Exact = tuple[type, object] | None
"""A row's value with its type (80 and 80.0 are equal keys, yet not the same JSON)."""


def _exact(value: object) -> Exact:
    return None if value is None else (type(value), value)


@functools.lru_cache(maxsize=4096)
def _converted_set(reps: Exact, weight: Exact, rpe: Exact, rest_seconds: Exact) -> SetData:
    """One split row's set in wire form, without `orderIndex`: legacy programs repeat the same
    rows (3 x 5 at 80 kg) thousands of times, each validated once. Callers copy it."""
    fields: dict[str, object] = {"setType": "working"}
    if reps is not None:
        fields["reps"] = reps[1]
    if weight is not None:
        fields["load"] = {"value": weight[1], "unit": "kg"}
    if rpe is not None:
        fields["rpe"] = rpe[1]
    if rest_seconds is not None:
        fields["restSeconds"] = rest_seconds[1]
    converted = PrescriptionSeriesData.model_validate(fields, strict=False).to_wire()
    converted.pop("orderIndex", None)
    return converted
