"""Resolving a relative load to a weight on the bar, as CONTRACT.md § "Resolved loads" states it.

A pure function of the athlete and one set's load, in decimal arithmetic with 28 significant
digits: a binary float would put a tie (93.75 kg between the 92.5 and 95 plates) on either
side of it, and one cent off is a wrong weight on the bar. Wire numbers enter as their shortest
decimal text (`repr` of the float), which is the number the producer wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from typing import Any
from uuid import UUID

from contracts.athletes import Athlete

KG_PER_LB = Decimal("0.45359237")
"""Exact, by the international yard and pound agreement (1959)."""

_CONTEXT = Context(prec=28)
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)
_PERCENT_1RM = "percent1rm"


def decimal_of(number: float | int) -> Decimal:
    """The decimal a JSON number stands for (`repr` is the shortest text that reads back)."""
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


@dataclass(frozen=True, slots=True)
class Max:
    """A reference max, in its own unit (`kg` or `lb`)."""

    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """What resolving needs of the athlete: maxes by catalog exercise, the training-max share,
    the plate increment per unit and the output unit (None: each max's own)."""

    maxes: Mapping[UUID, Max]
    training_max_percent: Decimal
    rounding: Mapping[str, Decimal]
    unit: str | None


@dataclass(frozen=True, slots=True)
class ResolvedLoad:
    value: Decimal
    unit: str


def convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    """A weight in another unit (1 lb = 0.45359237 kg exactly)."""
    if from_unit == to_unit:
        return value
    if from_unit == "lb":
        return _CONTEXT.multiply(value, KG_PER_LB)
    return _CONTEXT.divide(value, KG_PER_LB)


def nearest_multiple(raw: Decimal, step: Decimal) -> Decimal:
    """The multiple of `step` nearest to `raw`; a tie goes up (toward the heavier plate)."""
    context = _CONTEXT
    quotient = context.divide(raw, step)
    count = context.add(quotient, Decimal("0.5")).to_integral_value(ROUND_FLOOR, context)
    return context.multiply(count, step)


def to_cent(value: Decimal) -> Decimal:
    """`value` rounded to 0.01 (a half goes up), as every published weight."""
    return value.quantize(_CENT, ROUND_HALF_UP, _CONTEXT)


def share(value: Decimal, percent: Decimal) -> Decimal:
    """`percent` % of `value`, in the 28-digit context every load is computed in."""
    return _CONTEXT.divide(_CONTEXT.multiply(value, percent), _HUNDRED)


def on_plates(raw: Decimal, step: Decimal) -> Decimal:
    """The weight the bar carries for `raw`: the nearest multiple of the plate increment `step`
    (a tie goes up), rounded to 0.01."""
    return to_cent(nearest_multiple(raw, step))


def resolve(
    resolution: Resolution | None, load: Mapping[str, Any] | None, exercise_id: UUID
) -> ResolvedLoad | None:
    """The weight of one set's `load` (wire form) for the athlete, or None: no athlete, not a
    `percent1rm` load, or no max for its reference (`of`, else the exercise's own)."""
    if resolution is None or load is None or load.get("unit") != _PERCENT_1RM:
        return None
    reference = load.get("of")
    found = resolution.maxes.get(UUID(str(reference)) if reference is not None else exercise_id)
    if found is None:
        return None
    unit = resolution.unit or found.unit
    training_max = share(convert(found.value, found.unit, unit), resolution.training_max_percent)
    raw = share(training_max, decimal_of(load["value"]))
    return ResolvedLoad(on_plates(raw, resolution.rounding[unit]), unit)


def resolution_of(athlete: Athlete | None) -> Resolution | None:
    """What `resolve` needs of a program's athlete (None for a template)."""
    if athlete is None:
        return None
    return Resolution(
        {m.exercise_id: Max(decimal_of(m.value), m.unit.value) for m in athlete.maxes},
        decimal_of(athlete.training_max_percent),
        {"kg": decimal_of(athlete.rounding.kg), "lb": decimal_of(athlete.rounding.lb)},
        athlete.unit.value if athlete.unit is not None else None,
    )
