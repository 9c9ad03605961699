"""Resolving a set prescribed by effort (exact reps at an RPE or RIR) to a weight on the bar, as
CONTRACT.md § "Loads from effort (RPE and RIR)" states it.

It completes `loads.resolve`: a set whose `load` is `percent1rm` resolves there, a set without a
`load` may resolve here, so a caller tries `resolve(resolution, item.get("load"), exercise_id)`
first and then `resolve_effort(resolution, item, exercise_id)`; the two never both answer.
The arithmetic is that of `loads` (28 significant digits, nearest plate, a tie going up, then
0.01), with the chart's percentage in place of the training max and the load's percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard
from uuid import UUID

from service.domain.loads import (
    Resolution,
    ResolvedLoad,
    convert,
    decimal_of,
    on_plates,
    share,
)

RTS_PERCENTAGES: tuple[Decimal, ...] = tuple(
    Decimal(text)
    for text in (
        "100", "97.8", "95.5", "93.9", "92.2", "90.7", "89.2", "87.8", "86.3", "85.0",
        "83.7", "82.4", "81.1", "79.9", "78.6", "77.4", "76.2", "75.1", "73.9", "72.3",
        "70.7", "69.4", "68.0", "66.7", "65.3", "64.0", "62.6", "61.3", "59.9", "58.6",
    )
)  # fmt: skip
"""The reps x RPE chart of Reactive Training Systems, as a share of the max in percent: one more
rep or half a point less effort is one step down the list. Kept as decimal text so that 86.3 is
86.3, not the binary float nearest to it."""

MIN_REPS = 1
MAX_REPS = 12
MIN_RPE = Decimal("6.5")
MAX_RPE = Decimal(10)
MIN_RIR = 0
MAX_RIR = 3


def _is_count(value: object) -> TypeGuard[int]:
    # A bool is an int to Python, but `true` is not a number of reps.
    return isinstance(value, int) and not isinstance(value, bool)


def effective_rpe(rpe: float | None, rir: int | None) -> Decimal | None:
    """The RPE a set is prescribed at: its `rpe`, else `10 - rir` for an `rir` of 0..3; None when
    neither gives an RPE on the chart (6.5..10 in half points). An `rpe` off the chart is not
    replaced by the `rir`: the contract reads the `rir` only when `rpe` is null."""
    if rpe is not None:
        if isinstance(rpe, bool) or not isinstance(rpe, int | float):
            return None
        effort = decimal_of(rpe)
    elif _is_count(rir) and MIN_RIR <= rir <= MAX_RIR:
        effort = MAX_RPE - rir
    else:
        return None
    # `is_finite` first: a NaN cannot be compared with a Decimal without raising.
    if not effort.is_finite() or not MIN_RPE <= effort <= MAX_RPE or (effort * 2) % 1 != 0:
        return None
    return effort


def rts_index(reps: object, rpe: float | None, rir: int | None = None) -> int | None:
    """The position in `RTS_PERCENTAGES` of `reps` at the given effort, `2 x (reps - 1) +
    2 x (10 - rpe)` from 0 to 29; None when `reps` is not an exact int of 1..12 or the effort
    is off the chart (see `effective_rpe`)."""
    if not _is_count(reps) or not MIN_REPS <= reps <= MAX_REPS:
        return None
    effort = effective_rpe(rpe, rir)
    if effort is None:
        return None
    return 2 * (reps - 1) + int(2 * (MAX_RPE - effort))


def resolve_effort(
    resolution: Resolution | None, item: Mapping[str, Any], exercise_id: UUID
) -> ResolvedLoad | None:
    """The weight of one set (wire form) from its reps and effort, or None: no athlete, a set
    with a `load` of its own (whatever its unit), no exact reps of 1..12, no effort on the chart,
    or no max for `exercise_id` (the program exercise's catalog exercise: `of` belongs to a
    `percent1rm` load, which an effort-based set does not have). The training max is not applied:
    the chart gives a share of the max itself."""
    if resolution is None or item.get("load") is not None:
        return None
    index = rts_index(item.get("reps"), item.get("rpe"), item.get("rir"))
    if index is None:
        return None
    found = resolution.maxes.get(exercise_id)
    if found is None:
        return None
    unit = resolution.unit or found.unit
    raw = share(convert(found.value, found.unit, unit), RTS_PERCENTAGES[index])
    return ResolvedLoad(on_plates(raw, resolution.rounding[unit]), unit)
