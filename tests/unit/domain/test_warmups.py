"""The warm-up rule (CONTRACT.md § "Warm-up sets"), against hand-computed cases.

Each case was worked out on paper: value = the multiple of r nearest to reference x percent /
100 (a tie going up), then 0.01; raised to minLoad in the reference's unit (0.01) when given; a
step is left out when not below the reference or not above the last step kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from contracts.athletes import Athlete
from service.domain.loads import ResolvedLoad, resolution_of
from service.domain.warmups import (
    DEFAULT_ROUNDING,
    WarmupSet,
    rounding_of,
    warmup_reference,
    warmup_sets,
)

KG_PLATES = {"kg": Decimal("2.5"), "lb": Decimal(5)}


@dataclass(frozen=True)
class Step:
    percent: float
    reps: int


@dataclass(frozen=True)
class MinLoad:
    value: float
    unit: str


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    min_load: MinLoad | None = None


CLASSIC = (Step(40, 5), Step(60, 3), Step(80, 1))


def kg(value: str) -> ResolvedLoad:
    return ResolvedLoad(Decimal(value), "kg")


def lb(value: str) -> ResolvedLoad:
    return ResolvedLoad(Decimal(value), "lb")


def sets(*pairs: tuple[str, int], unit: str = "kg") -> list[WarmupSet]:
    return [WarmupSet(reps, ResolvedLoad(Decimal(value), unit)) for value, reps in pairs]


def test_contract_example_a_heavy_working_set() -> None:
    plan = Plan(CLASSIC, MinLoad(20, "kg"))
    assert warmup_sets(plan, kg("100"), KG_PLATES) == sets(("40.00", 5), ("60.00", 3), ("80.00", 1))


def test_contract_example_a_light_working_set() -> None:
    # 40 % is 12 -> 12.5, raised to 20; 60 % is 18 -> 17.5, raised to 20: not above 20, left
    # out; 80 % is 24 -> 25.
    plan = Plan(CLASSIC, MinLoad(20, "kg"))
    assert warmup_sets(plan, kg("30"), KG_PLATES) == sets(("20.00", 5), ("25.00", 1))


def test_values_carry_exactly_two_places() -> None:
    for warmup_set in warmup_sets(Plan(CLASSIC), kg("100"), KG_PLATES):
        assert warmup_set.load.value.as_tuple().exponent == -2


def test_a_tie_goes_up() -> None:
    # 50 x 42.5 % = 21.25, between 20 and 22.5.
    assert warmup_sets(Plan((Step(42.5, 5),)), kg("50"), KG_PLATES) == sets(("22.50", 5))


def test_a_step_reaching_the_reference_is_left_out() -> None:
    # 10 x 50 % = 5; 10 x 90 % = 9 -> 10, the reference itself: not below it.
    plan = Plan((Step(50, 5), Step(90, 2)))
    assert warmup_sets(plan, kg("10"), KG_PLATES) == sets(("5.00", 5))


def test_a_step_rounded_over_the_reference_is_left_out() -> None:
    # 11 x 95 % = 10.45 -> 10 (kept, below 11); 11 x 99 % = 10.89 -> 10: not above 10.
    # 12 x 99 % = 11.88 -> 12.5: above the reference of 12.
    assert warmup_sets(Plan((Step(95, 1), Step(99, 1))), kg("11"), KG_PLATES) == sets(("10.00", 1))
    assert warmup_sets(Plan((Step(99, 1),)), kg("12"), KG_PLATES) == []


def test_a_step_no_heavier_than_the_last_kept_is_left_out() -> None:
    # 100 x 40 % = 40; 41 % = 41 -> 40: not above 40; 42 % = 42 -> 42.5.
    plan = Plan((Step(40, 5), Step(41, 4), Step(42, 3)))
    assert warmup_sets(plan, kg("100"), KG_PLATES) == sets(("40.00", 5), ("42.50", 3))


def test_a_min_load_at_the_reference_leaves_every_step_out() -> None:
    assert warmup_sets(Plan(CLASSIC, MinLoad(20, "kg")), kg("20"), KG_PLATES) == []
    assert warmup_sets(Plan(CLASSIC, MinLoad(45, "lb")), kg("20"), KG_PLATES) == []


def test_a_min_load_in_lb_under_a_kg_reference() -> None:
    # 45 lb = 20.41165665 kg -> 20.41. 60 kg: 30 % = 18 -> 17.5, raised to 20.41; 50 % = 30;
    # 80 % = 48 -> 47.5.
    plan = Plan((Step(30, 5), Step(50, 3), Step(80, 1)), MinLoad(45, "lb"))
    assert warmup_sets(plan, kg("60"), KG_PLATES) == sets(("20.41", 5), ("30.00", 3), ("47.50", 1))


def test_a_min_load_in_kg_under_an_lb_reference() -> None:
    # 20 kg = 44.0924524... lb -> 44.09. 95 lb: 40 % = 38 -> 40, raised to 44.09; 60 % = 57 ->
    # 55; 80 % = 76 -> 75.
    plan = Plan(CLASSIC, MinLoad(20, "kg"))
    assert warmup_sets(plan, lb("95"), KG_PLATES) == sets(
        ("44.09", 5), ("55.00", 3), ("75.00", 1), unit="lb"
    )


def test_a_min_load_of_zero_changes_nothing() -> None:
    assert warmup_sets(Plan(CLASSIC, MinLoad(0, "kg")), kg("100"), KG_PLATES) == warmup_sets(
        Plan(CLASSIC), kg("100"), KG_PLATES
    )


def test_without_a_warmup_or_a_reference_there_is_none() -> None:
    assert warmup_sets(None, kg("100"), KG_PLATES) == []
    assert warmup_sets(Plan(CLASSIC), None, KG_PLATES) == []


def test_a_template_uses_the_default_plates() -> None:
    rounding = rounding_of(None)
    assert rounding == DEFAULT_ROUNDING == {"kg": Decimal("2.5"), "lb": Decimal(5)}
    plan = Plan((Step(42, 5), Step(63, 3)))
    # 100 kg: 42 -> 42.5, 63 -> 62.5; 100 lb: 42 -> 40, 63 -> 65.
    assert warmup_sets(plan, kg("100"), rounding) == sets(("42.50", 5), ("62.50", 3))
    assert warmup_sets(plan, lb("100"), rounding) == sets(("40.00", 5), ("65.00", 3), unit="lb")


def test_an_assigned_program_uses_the_athletes_plates() -> None:
    resolution = resolution_of(
        Athlete.model_validate({"athleteId": "a", "rounding": {"kg": 1, "lb": 2.5}}, strict=False)
    )
    rounding = rounding_of(resolution)
    assert rounding == {"kg": Decimal(1), "lb": Decimal("2.5")}
    # 100 kg x 43 % = 43 (a 1 kg plate: 43, not 42.5); 100 lb x 43 % = 43 -> 42.5.
    plan = Plan((Step(43, 5),))
    assert warmup_sets(plan, kg("100"), rounding) == sets(("43.00", 5))
    assert warmup_sets(plan, lb("100"), rounding) == sets(("42.50", 5), unit="lb")


# --- the reference


def working(**fields: Any) -> dict[str, Any]:
    return {"setType": "working", "reps": 5, **fields}


def test_the_reference_is_the_first_set_with_a_weight() -> None:
    series = [
        working(load={"value": 100, "unit": "kg"}),
        working(load={"value": 110, "unit": "kg"}),
    ]
    assert warmup_reference(series, [None, None]) == kg("100")


def test_a_resolved_load_is_the_reference_before_the_sets_own() -> None:
    series = [working(load={"value": 80, "unit": "percent1rm"})]
    assert warmup_reference(series, [kg("120.00")]) == kg("120.00")


def test_warmup_sets_are_skipped() -> None:
    series = [
        {"setType": "warmup", "reps": 5, "load": {"value": 60, "unit": "kg"}},
        working(load={"value": 100, "unit": "kg"}),
    ]
    assert warmup_reference(series, [None, None]) == kg("100")
    # A resolved warm-up set is skipped as well.
    series = [{"setType": "warmup", "load": {"value": 50, "unit": "percent1rm"}}, *series[1:]]
    assert warmup_reference(series, [kg("60.00"), None]) == kg("100")


def test_sets_without_a_weight_are_skipped() -> None:
    series = [
        working(),  # no load
        working(load={"value": 10, "unit": "bodyweight"}),
        working(load={"value": 80, "unit": "percent1rm"}),  # a template: not resolved
        {"reps": 3, "load": {"value": 225, "unit": "lb"}},  # no setType: working
    ]
    assert warmup_reference(series, [None] * 4) == lb("225")


def test_a_decimal_load_is_read_as_written() -> None:
    series = [working(load={"value": 102.3, "unit": "kg"})]
    assert warmup_reference(series, [None]) == kg("102.3")


@pytest.mark.parametrize(
    "series",
    [
        [],
        [working(), working(rpe=8)],
        [working(load={"value": 10, "unit": "bodyweight"})],
        [{"setType": "warmup", "load": {"value": 60, "unit": "kg"}}],
    ],
    ids=["empty series", "no loads", "bodyweight only", "warm-up sets only"],
)
def test_a_series_without_a_weight_has_no_warmup(series: list[dict[str, Any]]) -> None:
    reference = warmup_reference(series, [None] * len(series))
    assert reference is None
    assert warmup_sets(Plan(CLASSIC), reference, KG_PLATES) == []
