"""What a `prescription.updated` derives from the program besides the series itself: each set's
weight for the athlete (`resolvedLoad`, from a `percent1rm` load or from reps and effort),
the warm-up sets (`warmupSets`) and the date of the session in the prescription's week
(`scheduledDate`).

`announce` publishes these; a command that changes what they depend on without writing the series
(an athlete, a max, a warm-up, a date) compares them before and after with the same functions, so
that the latest event of a prescription is always its current state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from service.domain.calendar import scheduled_date
from service.domain.effort import resolve_effort
from service.domain.loads import Resolution, ResolvedLoad, resolve
from service.domain.model import Program, ProgramExercise, Session, SetData
from service.domain.warmups import WarmupSet, rounding_of, warmup_reference, warmup_sets


def resolve_set(
    resolution: Resolution | None, item: Mapping[str, Any], exercise_id: UUID
) -> ResolvedLoad | None:
    """One set's weight for the athlete: from its `percent1rm` load, else (a set without a load)
    from its reps and effort; None otherwise. The two never both answer."""
    load = item.get("load")
    if load is not None:
        return resolve(resolution, load, exercise_id)
    return resolve_effort(resolution, item, exercise_id)


def resolve_series(
    resolution: Resolution | None, series: Sequence[Mapping[str, Any]], exercise_id: UUID
) -> tuple[ResolvedLoad | None, ...]:
    """The resolved load of every set of a series, in order. A template (no athlete) resolves
    nothing: answered without looking at each set, as imports announce thousands of them."""
    if resolution is None:
        return (None,) * len(series)
    return tuple(resolve_set(resolution, item, exercise_id) for item in series)


def warmups_of(
    resolution: Resolution | None,
    exercise: ProgramExercise,
    series: Sequence[SetData],
    resolved: Sequence[ResolvedLoad | None],
) -> tuple[WarmupSet, ...]:
    """The warm-up sets of a prescription of `exercise` whose sets resolve to `resolved`."""
    if exercise.warmup is None:  # most exercises: no reference to look for
        return ()
    reference = warmup_reference(series, resolved)
    return tuple(warmup_sets(exercise.warmup, reference, rounding_of(resolution)))


def loads_of(
    resolution: Resolution | None, exercise: ProgramExercise, series: Sequence[SetData]
) -> tuple[tuple[ResolvedLoad | None, ...], tuple[WarmupSet, ...]]:
    """Each set's resolved load and the warm-up sets: what the athlete loads on the bar."""
    resolved = resolve_series(resolution, series, exercise.exercise_id)
    return resolved, warmups_of(resolution, exercise, series, resolved)


def date_of(program: Program, session: Session, week: int) -> date | None:
    """The date of `session` in `week` on the program's calendar (None: none)."""
    return scheduled_date(program.start_date, week, session.day_offset, session.rescheduled)
