"""Commands that edit one prescription's series (the sets of one exercise in one week).

Each replaces one immutable `Prescription`, and only after every check passed, so they apply to
the program in place: a rejection leaves nothing to undo.
"""

from __future__ import annotations

from pydantic import ValidationError

from contracts import commands as c
from contracts.parsing import error_details
from contracts.series import MAX_SETS_PER_SERIES, PrescriptionSeriesData
from service.domain.commands import rules
from service.domain.commands.registry import Step, handles, its_exercise
from service.domain.errors import InvariantViolated, NotFound, ValidationFailed
from service.domain.model import Prescription, Program, SetData

SeriesBody = (
    c.SeriesReplaceBody
    | c.SeriesAddBody
    | c.SeriesUpdateBody
    | c.SeriesRemoveBody
    | c.SeriesMoveBody
)


def _prescription(
    program: Program, body: SeriesBody, step: Step, *, create: bool
) -> tuple[dict[int, Prescription], Prescription]:
    rules.check_week(program, body.week)
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
            step.ids.prescription(body.program_exercise_id, body.week),
            body.program_exercise_id,
            body.week,
            0,
            (),
        )
    return by_week, current


def _store(
    program: Program,
    by_week: dict[int, Prescription],
    current: Prescription,
    series: tuple[SetData, ...],
    step: Step,
) -> None:
    by_week[current.week] = Prescription(
        current.id, current.program_exercise_id, current.week, current.version, series
    )
    step.changes.series_changed(current.program_exercise_id, current.week)
    rules.customise_holding(program, current.program_exercise_id, step.changes)


@handles(c.SeriesReplaceBody, reads=its_exercise, copies=False)
def series_replace(program: Program, body: c.SeriesReplaceBody, step: Step) -> None:
    by_week, current = _prescription(program, body, step, create=True)
    _store(program, by_week, current, rules.wire_series(body.series), step)


@handles(c.SeriesAddBody, reads=its_exercise, copies=False)
def series_add(program: Program, body: c.SeriesAddBody, step: Step) -> None:
    by_week, current = _prescription(program, body, step, create=False)
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
    at = rules.position(wanted, len(current.series), "position", "the series")
    series = list(current.series)
    series.insert(at, rules.wire_set(body.set, at))
    _store(program, by_week, current, rules.renumbered(series), step)


@handles(c.SeriesUpdateBody, reads=its_exercise, copies=False)
def series_update(program: Program, body: c.SeriesUpdateBody, step: Step) -> None:
    by_week, current = _prescription(program, body, step, create=False)
    at = rules.index(body.index, len(current.series), "index", "the series")
    if body.set.order_index is not None and body.set.order_index != at:
        raise ValidationFailed(
            f"set.orderIndex ({body.set.order_index}) must equal index ({at}) or be left out",
            path="set.orderIndex",
        )
    stored = PrescriptionSeriesData.model_validate(current.series[at], strict=False)
    try:
        merged = PrescriptionSeriesData.model_validate(body.set.merged_into(stored), strict=False)
    except ValidationError as invalid:
        reasons = "; ".join(d.reason for d in error_details(invalid))
        raise InvariantViolated(
            f"the set at index {at} with these changes would break a rule: {reasons} "
            "(send null for the fields to clear, e.g. repsMin: null, repsMax: null with reps)",
            path="set",
        ) from None
    series = list(current.series)
    series[at] = rules.wire_set(merged, at)
    _store(program, by_week, current, tuple(series), step)


@handles(c.SeriesRemoveBody, reads=its_exercise, copies=False)
def series_remove(program: Program, body: c.SeriesRemoveBody, step: Step) -> None:
    by_week, current = _prescription(program, body, step, create=False)
    at = rules.index(body.index, len(current.series), "index", "the series")
    series = list(current.series)
    series.pop(at)
    _store(program, by_week, current, rules.renumbered(series), step)


@handles(c.SeriesMoveBody, reads=its_exercise, copies=False)
def series_move(program: Program, body: c.SeriesMoveBody, step: Step) -> None:
    by_week, current = _prescription(program, body, step, create=False)
    source = rules.index(body.from_, len(current.series), "from", "the series")
    target = rules.index(body.to, len(current.series), "to", "the series")
    series = list(current.series)
    series.insert(target, series.pop(source))
    _store(program, by_week, current, rules.renumbered(series), step)
