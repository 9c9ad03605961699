"""Commands that spread a program over its weeks: copy a week forward, insert or remove weeks,
and progress one exercise's series week by week.

Moving weeks keeps each prescription's id and announces it with its new `week`; a week that is
written for the first time gets the derived id `prescription:<programExerciseId>:<week>`.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from pydantic import ValidationError

from contracts import commands as c
from contracts.commands import MAX_WEEKS
from contracts.parsing import error_details
from contracts.series import MAX_PERCENT_1RM, PrescriptionSeriesData
from service.domain.calendar import after_week_insert, after_week_remove
from service.domain.commands import rules
from service.domain.commands.registry import (
    WHOLE_PROGRAM,
    Reads,
    Step,
    handles,
    its_exercise,
    sessions,
    whole_program,
)
from service.domain.errors import InvariantViolated, NotFound
from service.domain.model import Prescription, Program, SetData, with_order_index


def _write_week(
    program: Program, exercise_id: UUID, week: int, series: tuple[SetData, ...], step: Step
) -> None:
    """Replace the series of `week`, or create its prescription with the derived id."""
    by_week = program.prescriptions_of(exercise_id)
    current = by_week.get(week)
    if current is None:
        by_week[week] = Prescription(
            step.ids.prescription(exercise_id, week), exercise_id, week, 0, series
        )
    else:
        by_week[week] = replace(current, series=series)
    step.changes.series_changed(exercise_id, week)


def _check_targets(program: Program, weeks: list[int]) -> None:
    for at, week in enumerate(weeks):
        rules.check_week(program, week, f"toWeeks[{at}]")


def _week_copy_reads(program: Program, body: c.WeekCopyBody) -> Reads:
    return WHOLE_PROGRAM if body.session_id is None else sessions(program, [body.session_id])


@handles(c.WeekCopyBody, reads=_week_copy_reads)
def week_copy(program: Program, body: c.WeekCopyBody, step: Step) -> None:
    if body.session_id is not None:
        scope = [program.session(body.session_id)[1]]
    else:
        scope = program.sessions
    rules.check_week(program, body.from_week, "fromWeek")
    _check_targets(program, body.to_weeks)
    for session in scope:
        for exercise in session.exercises():
            source = program.prescriptions_of(exercise.id).get(body.from_week)
            if source is None:
                continue  # nothing written in fromWeek: left alone
            for week in body.to_weeks:
                _write_week(program, exercise.id, week, source.series, step)
    if body.session_id is not None:
        rules.customise(program, body.session_id, step.changes)


def _shift_weeks(program: Program, first: int, by: int, step: Step) -> None:
    """Move every prescription and label of week >= `first` by `by` weeks (same ids)."""
    for session in program.sessions:
        for exercise in session.exercises():
            by_week = program.prescriptions_of(exercise.id)
            moving = sorted((w for w in by_week if w >= first), reverse=by > 0)
            for week in moving:
                prescription = by_week.pop(week)
                by_week[week + by] = replace(prescription, week=week + by)
                # An earlier operation of the same batch may have written it at its old week.
                step.changes.series.pop((exercise.id, week), None)
                step.changes.series_changed(exercise.id, week + by)
    program.week_labels = {
        week + by if week >= first else week: label for week, label in program.week_labels.items()
    }


@handles(c.WeekInsertBody, reads=whole_program)
def week_insert(program: Program, body: c.WeekInsertBody, step: Step) -> None:
    if body.at > program.weeks:
        raise InvariantViolated(
            f"at {body.at} does not exist: the program has {program.weeks} weeks, so the largest "
            f"position is {program.weeks} (append)",
            path="at",
        )
    if program.weeks + body.count > MAX_WEEKS:
        raise InvariantViolated(
            f"count {body.count} would make {program.weeks + body.count} weeks; a program holds "
            f"at most {MAX_WEEKS} (it has {program.weeks})",
            path="count",
        )
    _shift_weeks(program, body.at, body.count, step)
    rules.move_reschedulings(
        program, step.changes, lambda r: after_week_insert(r, body.at, body.count)
    )
    program.weeks += body.count
    step.changes.program_row = True
    _keep_week_zero(program, step)


def _keep_week_zero(program: Program, step: Step) -> None:
    """Every program exercise has a week-0 prescription: after weeks moved away from week 0, an
    exercise without one gets an empty one (derived id `prescription:<id>:0`)."""
    for exercise_id in program.exercise_ids():
        if 0 not in program.prescriptions_of(exercise_id):
            _write_week(program, exercise_id, 0, (), step)


@handles(c.WeekRemoveBody, reads=whole_program)
def week_remove(program: Program, body: c.WeekRemoveBody, step: Step) -> None:
    rules.check_week(program, body.week)
    if program.weeks == 1:
        raise InvariantViolated(
            "week 0 is the program's only week; a program has at least 1 week", path="week"
        )
    for session in program.sessions:
        for exercise in session.exercises():
            by_week = program.prescriptions_of(exercise.id)
            if body.week in by_week:
                step.changes.delete_prescription(by_week.pop(body.week), exercise, session.id)
    program.week_labels.pop(body.week, None)
    _shift_weeks(program, body.week + 1, -1, step)
    rules.move_reschedulings(program, step.changes, lambda r: after_week_remove(r, body.week))
    program.weeks -= 1
    step.changes.program_row = True
    _keep_week_zero(program, step)


_RANGES = {
    "reps": (0, 1000),
    "repsMin": (0, 1000),
    "repsMax": (0, 1000),
    "rpe": (1, 10),
    "rir": (0, 10),
}


def _progressed(
    series: tuple[SetData, ...], step: c.ProgressionStep, weeks_after: int, path: str, week: int
) -> tuple[SetData, ...]:
    """The series with each step applied `weeks_after` times, or `InvariantViolated` naming the
    first value out of its field's range."""
    moves: dict[str, float | None] = {
        "reps": step.reps,
        "repsMin": step.reps,
        "repsMax": step.reps,
        "rpe": step.rpe,
        "rir": step.rir,
    }
    result: list[SetData] = []
    for index, item in enumerate(series):
        changed = dict(item)
        for name, by in moves.items():
            if by is None or changed.get(name) is None:
                continue
            value = changed[name] + by * weeks_after
            low, high = _RANGES[name]
            if not low <= value <= high:
                raise InvariantViolated(
                    f"{path} (week {week}): set {index} {name} would be {value:g}; {name} is "
                    f"{low}..{high}, so nothing was written",
                    path=path,
                )
            changed[name] = int(value) if name != "rpe" else value
        load = changed.get("load")
        if step.load is not None and load is not None and load["unit"] != "bodyweight":
            value = round(load["value"] + step.load * weeks_after, 2)
            ceiling = MAX_PERCENT_1RM if load["unit"] == "percent1rm" else None
            if value < 0 or (ceiling is not None and value > ceiling):
                limit = f"0..{ceiling}" if ceiling is not None else ">= 0"
                raise InvariantViolated(
                    f"{path} (week {week}): set {index} load would be {value:g} "
                    f"{load['unit']}; a {load['unit']} load is {limit}, so nothing was written",
                    path=path,
                )
            changed["load"] = {**load, "value": value}
        try:
            checked = PrescriptionSeriesData.model_validate(changed, strict=False)
        except ValidationError as invalid:  # a rule of the set itself, stated by the contract
            reasons = "; ".join(d.reason for d in error_details(invalid))
            raise InvariantViolated(
                f"{path} (week {week}): set {index} would break a rule: {reasons}", path=path
            ) from None
        result.append(with_order_index(checked.to_wire(), index))
    return tuple(result)


@handles(c.SeriesProgressBody, reads=its_exercise, copies=False)
def series_progress(program: Program, body: c.SeriesProgressBody, step: Step) -> None:
    program.locate(body.program_exercise_id)
    rules.check_week(program, body.from_week, "fromWeek")
    _check_targets(program, body.to_weeks)
    source = program.prescriptions_of(body.program_exercise_id).get(body.from_week)
    if source is None:
        raise NotFound(
            f"program exercise {body.program_exercise_id} has no prescription for week "
            f"{body.from_week}; write it first with series.replace",
            path="fromWeek",
        )
    # Every target is computed before any is written: a value out of range writes nothing.
    targets = [
        (
            week,
            _progressed(source.series, body.step, week - body.from_week, f"toWeeks[{at}]", week),
        )
        for at, week in enumerate(body.to_weeks)
    ]
    for week, series in targets:
        _write_week(program, body.program_exercise_id, week, series, step)
    rules.customise_holding(program, body.program_exercise_id, step.changes)
