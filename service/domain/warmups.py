"""The warm-up sets of a prescription, computed from its program exercise's `warmup` steps and its
first working weight, as CONTRACT.md § "Warm-up sets" states it.

Same arithmetic as the resolved loads (decimal with 28 significant digits, the nearest plate, a
tie going up, then 0.01): a warm-up is loaded on the same bar with the same plates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from contracts.athletes import DEFAULT_ROUNDING_KG, DEFAULT_ROUNDING_LB
from service.domain.loads import (
    Resolution,
    ResolvedLoad,
    convert,
    decimal_of,
    on_plates,
    share,
    to_cent,
)
from service.domain.model import SetData

DEFAULT_ROUNDING: Mapping[str, Decimal] = {
    "kg": decimal_of(DEFAULT_ROUNDING_KG),
    "lb": decimal_of(DEFAULT_ROUNDING_LB),
}
"""The plates of a template, which has no athlete to say which it uses."""

_WEIGHT_UNITS = frozenset({"kg", "lb"})
_WARMUP = "warmup"


class Weight(Protocol):
    """A value in a unit, as a warm-up's `minLoad` gives it (`unit` `kg` or `lb`)."""

    @property
    def value(self) -> float: ...

    @property
    def unit(self) -> str: ...


class WarmupStep(Protocol):
    """One step of a warm-up: a share of the working weight, in percent, for `reps`."""

    @property
    def percent(self) -> float: ...

    @property
    def reps(self) -> int: ...


class Warmup(Protocol):
    """A program exercise's `warmup`: read-only attributes, so that the contract's model (whatever
    its field types: a unit enum is a `str`) is accepted as it is."""

    @property
    def steps(self) -> Sequence[WarmupStep]: ...

    @property
    def min_load(self) -> Weight | None: ...


@dataclass(frozen=True, slots=True)
class WarmupSet:
    """One warm-up set as `warmupSets` publishes it: `{ reps, load { value, unit } }`."""

    reps: int
    load: ResolvedLoad


def rounding_of(resolution: Resolution | None) -> Mapping[str, Decimal]:
    """The plate increment per unit: the athlete's on an assigned program, else the defaults."""
    return DEFAULT_ROUNDING if resolution is None else resolution.rounding


def warmup_reference(
    series: Sequence[SetData], resolved: Sequence[ResolvedLoad | None]
) -> ResolvedLoad | None:
    """The weight warm-ups lead up to: that of the first set of `series` (wire form) which is not
    a `warmup` set and has a weight, namely its resolved load (`resolved`, aligned with `series`)
    when there is one, else its own `load` when in `kg` or `lb`. None when no set has one."""
    for item, resolved_load in zip(series, resolved, strict=True):
        if item.get("setType") == _WARMUP:
            continue
        if resolved_load is not None:
            return resolved_load
        load = item.get("load")
        if load is not None and load.get("unit") in _WEIGHT_UNITS:
            return ResolvedLoad(decimal_of(load["value"]), str(load["unit"]))
    return None


def warmup_sets(
    warmup: Warmup | None, reference: ResolvedLoad | None, rounding: Mapping[str, Decimal]
) -> list[WarmupSet]:
    """The warm-up sets for `reference`, in the order of the steps; [] without a warmup or a
    reference. A step whose weight is not below the reference, or not above the last step
    kept, is left out: a warm-up climbs, and never reaches the working weight."""
    if warmup is None or reference is None:
        return []
    unit = reference.unit
    min_load: Decimal | None = None
    if warmup.min_load is not None:
        given = warmup.min_load
        min_load = to_cent(convert(decimal_of(given.value), str(given.unit), unit))
    kept: list[WarmupSet] = []
    for step in warmup.steps:
        value = on_plates(share(reference.value, decimal_of(step.percent)), rounding[unit])
        if min_load is not None:
            value = max(value, min_load)
        if value >= reference.value or (kept and value <= kept[-1].load.value):
            continue
        kept.append(WarmupSet(step.reps, ResolvedLoad(value, unit)))
    return kept
