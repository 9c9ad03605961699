"""The set (`PrescriptionSeriesData`) and its rules, as CONTRACT.md § "A set" states them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from contracts.base import WireModel, fail_at

MAX_SETS_PER_SERIES = 50
MAX_NOTES_LENGTH = 500
MAX_PERCENT_1RM = 200

TEMPO_PATTERN = re.compile(r"^(?:[0-9X]{4}|[0-9X]-[0-9X]-[0-9X]-[0-9X])$")


class SetType(StrEnum):
    WARMUP = "warmup"
    WORKING = "working"
    DROPSET = "dropset"
    CLUSTER = "cluster"
    AMRAP = "amrap"
    FAILURE = "failure"


class LoadUnit(StrEnum):
    KG = "kg"
    LB = "lb"
    PERCENT_1RM = "percent1rm"
    BODYWEIGHT = "bodyweight"


class Load(WireModel):
    """A load: a non-negative value in kg, lb, percent of 1RM (<= 200) or added to bodyweight.

    (v1.2) A `percent1rm` load may name with `of` the catalog exercise whose max it is a
    percentage of; without it, the program exercise's own. `of` is left out on output when
    absent."""

    value: Annotated[float, Field(ge=0)]
    unit: LoadUnit
    of: UUID | None = None

    @model_validator(mode="after")
    def _percent_bound(self) -> Self:
        if self.unit is LoadUnit.PERCENT_1RM and self.value > MAX_PERCENT_1RM:
            raise ValueError(f"a percent1rm load is at most {MAX_PERCENT_1RM}, got {self.value:g}")
        if self.of is not None and self.unit is not LoadUnit.PERCENT_1RM:
            fail_at(
                ("of",),
                f"of names the exercise whose max a percent1rm load is taken of; a {self.unit} "
                "load has no max to refer to",
                str(self.of),
            )
        return self

    @model_serializer(mode="wrap")
    def _drop_absent_of(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("of") is None:
            data.pop("of", None)
        return data


class ResolvedUnit(StrEnum):
    """The units of a weight on the bar (and of an athlete's maxes)."""

    KG = "kg"
    LB = "lb"


class ResolvedLoad(WireModel):
    """(v1.2, output only) A relative load resolved to a weight for the program's athlete."""

    value: float
    unit: ResolvedUnit


Reps = Annotated[int, Field(ge=0, le=1000)]
# The step and pattern rules are checked by the validators below (with messages that say what
# to send); `json_schema_extra` states them in the published JSON Schema too.
Rpe = Annotated[float, Field(ge=1, le=10, json_schema_extra={"multipleOf": 0.5})]
Tempo = Annotated[str, Field(json_schema_extra={"pattern": TEMPO_PATTERN.pattern})]
Rir = Annotated[int, Field(ge=0, le=10)]
DurationSeconds = Annotated[int, Field(ge=1, le=86_400)]
RestSeconds = Annotated[int, Field(ge=0, le=3600)]
Notes = Annotated[str, Field(max_length=MAX_NOTES_LENGTH)]


def _check_rpe(value: float | None) -> float | None:
    if value is not None and not (value * 2).is_integer():
        raise ValueError(f"rpe goes in steps of 0.5 (8, 8.5, 9 ...), got {value:g}")
    return value


def _check_tempo(value: str | None) -> str | None:
    if value is not None and not TEMPO_PATTERN.match(value):
        raise ValueError(
            f"tempo is four phases of digits or X, optionally dash separated "
            f"(31X0 or 3-1-X-0), got {value!r}"
        )
    return value


def check_set_combination(
    reps: int | None, reps_min: int | None, reps_max: int | None
) -> str | None:
    """The reason a reps combination breaks the contract, or None when it is valid."""
    if reps is not None and (reps_min is not None or reps_max is not None):
        return "reps is exact and repsMin/repsMax is a range: give one or the other, not both"
    if (reps_min is None) != (reps_max is None):
        return "a rep range needs both repsMin and repsMax"
    if reps_min is not None and reps_max is not None and reps_min > reps_max:
        return f"repsMin ({reps_min}) must not exceed repsMax ({reps_max})"
    return None


class _SetFieldRules(WireModel):
    """Rules of single fields, shared by a whole set and by a partial one."""

    @field_validator("rpe", check_fields=False)
    @classmethod
    def _rpe_steps(cls, value: float | None) -> float | None:
        return _check_rpe(value)

    @field_validator("tempo", check_fields=False)
    @classmethod
    def _tempo_format(cls, value: str | None) -> str | None:
        return _check_tempo(value)


_OMITTED_WHEN_FALSE = frozenset({"perSide", "per_side"})


class PrescriptionSeriesData(_SetFieldRules):
    """One set of a series.

    `orderIndex` is the set's position; null fields are left out on output.
    """

    order_index: Annotated[int, Field(ge=0)] | None = None
    set_type: SetType = SetType.WORKING
    reps: Reps | None = None
    reps_min: Reps | None = None
    reps_max: Reps | None = None
    duration_seconds: DurationSeconds | None = None
    load: Load | None = None
    rpe: Rpe | None = None
    rir: Rir | None = None
    tempo: Tempo | None = None
    rest_seconds: RestSeconds | None = None
    notes: Notes | None = None
    # v1.1: reps, duration and load are per side (unilateral work); left out on output when false.
    per_side: bool = False

    @model_validator(mode="after")
    def _reps_combination(self) -> Self:
        reason = check_set_combination(self.reps, self.reps_min, self.reps_max)
        if reason:
            raise ValueError(reason)
        return self

    _ALWAYS_PRESENT: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {
            key: value
            for key, value in data.items()
            if key in self._ALWAYS_PRESENT
            or (value is not None and not (key in _OMITTED_WHEN_FALSE and value is False))
        }


class PrescriptionSeriesPatch(_SetFieldRules):
    """The fields of a set that `series.update` merges in: absent is kept, null clears."""

    order_index: Annotated[int, Field(ge=0)] | None = None
    set_type: SetType | None = None
    reps: Reps | None = None
    reps_min: Reps | None = None
    reps_max: Reps | None = None
    duration_seconds: DurationSeconds | None = None
    load: Load | None = None
    rpe: Rpe | None = None
    rir: Rir | None = None
    tempo: Tempo | None = None
    rest_seconds: RestSeconds | None = None
    notes: Notes | None = None
    per_side: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field of the set to change")
        if "set_type" in self.model_fields_set and self.set_type is None:
            raise ValueError("setType cannot be null; send 'working' for the default")
        self._consistent_alone()
        return self

    def _consistent_alone(self) -> None:
        """A partial that breaks a set rule by itself, whatever the stored set holds, is the
        command's own fault (`validation_failed`); only a merge can be `invariant_violated`."""
        if self.reps is not None and (self.reps_min is not None or self.reps_max is not None):
            fail_at(
                ("reps",),
                "reps is exact and repsMin/repsMax is a range: give one or the other, not both "
                "(send repsMin: null, repsMax: null with reps to replace a range)",
                self.reps,
            )
        low, high = self.reps_min, self.reps_max
        if low is not None and high is not None and low > high:
            fail_at(
                ("repsMin",),
                f"repsMin ({low}) must not exceed repsMax ({high})",
                low,
            )

    def merged_into(self, current: PrescriptionSeriesData) -> dict[str, Any]:
        """The snake_case fields of `current` with this patch's given fields laid over them."""
        merged = {name: getattr(current, name) for name in PrescriptionSeriesData.model_fields}
        for name in self.model_fields_set:
            merged[name] = getattr(self, name)
        if merged["per_side"] is None:  # null clears: back to the default
            merged["per_side"] = False
        return merged


class PublishedSet(PrescriptionSeriesData):
    """A set as `prescription.updated` carries it: null fields left out, except `resolvedLoad`
    (v1.2), which is always present: the weight for the program's athlete, or null."""

    resolved_load: ResolvedLoad | None

    _ALWAYS_PRESENT: ClassVar[frozenset[str]] = frozenset({"resolvedLoad", "resolved_load"})


def check_order_indexes(series: list[PrescriptionSeriesData]) -> list[PrescriptionSeriesData]:
    """A given `orderIndex` must equal the set's position in the array."""
    for position, item in enumerate(series):
        if item.order_index is not None and item.order_index != position:
            fail_at(
                (position, "orderIndex"),
                f"orderIndex is the set's position in the array ({position}) and may be "
                f"omitted, got {item.order_index}",
                item.order_index,
            )
    return series


Series = Annotated[
    list[PrescriptionSeriesData],
    Field(max_length=MAX_SETS_PER_SERIES),
    AfterValidator(check_order_indexes),
]
