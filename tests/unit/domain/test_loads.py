"""The load-resolution rule (CONTRACT.md § "Resolved loads"), against hand-computed cases.

Each row was worked out on paper from the rule as written: u = athlete.unit else the max's unit;
m = the max in u (1 lb = 0.45359237 kg); raw = m x trainingMaxPercent / 100 x load / 100; the
multiple of rounding[u] nearest to raw, a tie going up; then 0.01.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from service.domain.derived import resolve_series
from service.domain.loads import (
    KG_PER_LB,
    Resolution,
    ResolvedLoad,
    convert,
    nearest_multiple,
    resolve,
)
from tests.support.athletes import athlete

SQUAT = UUID("00000000-0000-4000-8000-000000000001")
BENCH = UUID("00000000-0000-4000-8000-000000000002")
DEADLIFT = UUID("00000000-0000-4000-8000-000000000003")


def percent(value: float, of: UUID | None = None) -> dict[str, object]:
    load: dict[str, object] = {"value": value, "unit": "percent1rm"}
    if of is not None:
        load["of"] = str(of)
    return load


CASES = [
    # (why, resolution, load, expected value, expected unit)
    (
        "contract example: 140 kg, TM 90, 75 % -> raw 94.5 -> 95",
        athlete((SQUAT, 140, "kg"), training_max=90),
        percent(75),
        "95.00",
        "kg",
    ),
    (
        "contract example: a tie (93.75 between 92.5 and 95) goes up",
        athlete((SQUAT, 100, "kg")),
        percent(93.75),
        "95.00",
        "kg",
    ),
    (
        "exact multiple stays: 100 kg x 90 % = 90",
        athlete((SQUAT, 100, "kg")),
        percent(90),
        "90.00",
        "kg",
    ),
    (
        "below the tie goes down: 100 kg x 93.7 % = 93.7 -> 92.5",
        athlete((SQUAT, 100, "kg")),
        percent(93.7),
        "92.50",
        "kg",
    ),
    (
        "a tie in lb: 205 lb x 50 % = 102.5, between 100 and 105 -> 105",
        athlete((SQUAT, 205, "lb")),
        percent(50),
        "105.00",
        "lb",
    ),
    (
        "lb max to kg: 225 lb = 102.05828325 kg; x 80 % = 81.6466266 -> 82.5",
        athlete((SQUAT, 225, "lb"), unit="kg"),
        percent(80),
        "82.50",
        "kg",
    ),
    (
        "kg max to lb: 100 kg = 220.462262184877... lb -> 220",
        athlete((SQUAT, 100, "kg"), unit="lb"),
        percent(100),
        "220.00",
        "lb",
    ),
    (
        "kg max to lb with TM 90: 140 kg = 308.647167... lb; x 0.9 x 0.75 = 208.3368... -> 210",
        athlete((SQUAT, 140, "kg"), training_max=90, unit="lb"),
        percent(75),
        "210.00",
        "lb",
    ),
    (
        "no athlete unit: each max's own (lb max, lb plates)",
        athlete((SQUAT, 315, "lb"), training_max=85),
        percent(70),
        "185.00",
        "lb",
    ),
    (
        "training max 87.5: 200 kg x 0.875 x 0.6 = 105 exactly",
        athlete((SQUAT, 200, "kg"), training_max=87.5),
        percent(60),
        "105.00",
        "kg",
    ),
    (
        "custom kg plates 1.25: 100 kg x 0.9 x 0.65 = 58.5 -> 58.75",
        athlete((SQUAT, 100, "kg"), training_max=90, kg=1.25),
        percent(65),
        "58.75",
        "kg",
    ),
    (
        "custom plates 0.1: 100.1 kg x 50 % = 50.05, a tie a float would round down -> 50.1",
        athlete((SQUAT, 100.1, "kg"), kg=0.1),
        percent(50),
        "50.10",
        "kg",
    ),
    (
        "cents after the plate: 0.015 kg steps, 50 -> 3333 steps = 49.995 -> 50.00",
        athlete((SQUAT, 100, "kg"), kg=0.015),
        percent(50),
        "50.00",
        "kg",
    ),
    (
        "cents after the plate: 0.015 kg steps, 10 -> 667 steps = 10.005 -> 10.01",
        athlete((SQUAT, 20, "kg"), kg=0.015),
        percent(50),
        "10.01",
        "kg",
    ),
    (
        "decimal percent: 150 kg x 33.3 % = 49.95 -> 50",
        athlete((SQUAT, 150, "kg")),
        percent(33.3),
        "50.00",
        "kg",
    ),
    (
        "0 % resolves to nothing on the bar, 0",
        athlete((SQUAT, 150, "kg")),
        percent(0),
        "0.00",
        "kg",
    ),
    (
        "over 100 %: 100 kg x 102.5 % = 102.5 exactly",
        athlete((SQUAT, 100, "kg")),
        percent(102.5),
        "102.50",
        "kg",
    ),
    (
        "of: incline at 80 % of the bench max (135 lb x 0.9 x 0.8 = 97.2) -> 95 lb",
        athlete((SQUAT, 100, "kg"), (BENCH, 135, "lb"), training_max=90),
        percent(80, of=BENCH),
        "95.00",
        "lb",
    ),
    (
        "lb plates 2.5 for a kg max shown in lb: 60 kg = 132.277357... lb -> 132.5",
        athlete((SQUAT, 60, "kg"), lb=2.5, unit="lb"),
        percent(100),
        "132.50",
        "lb",
    ),
]


@pytest.mark.parametrize(
    ("resolution", "load", "value", "unit"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_resolves_as_computed_by_hand(
    resolution: Resolution, load: dict[str, object], value: str, unit: str
) -> None:
    assert resolve(resolution, load, SQUAT) == ResolvedLoad(Decimal(value), unit)


def test_the_value_carries_exactly_two_places() -> None:
    resolved = resolve(athlete((SQUAT, 140, "kg"), training_max=90), percent(75), SQUAT)
    assert resolved is not None
    assert resolved.value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("resolution", "load"),
    [
        (None, percent(80)),  # a template
        (athlete((SQUAT, 100, "kg")), None),  # no load
        (athlete((SQUAT, 100, "kg")), {"value": 100, "unit": "kg"}),
        (athlete((SQUAT, 100, "kg")), {"value": 45, "unit": "lb"}),
        (athlete((SQUAT, 100, "kg")), {"value": 10, "unit": "bodyweight"}),
        (athlete((BENCH, 100, "kg")), percent(80)),  # no max for the exercise itself
        (athlete((SQUAT, 100, "kg")), percent(80, of=DEADLIFT)),  # no max for `of`,
        (athlete(), percent(80)),  # an athlete without maxes
    ],
    ids=[
        "template",
        "no load",
        "kg load",
        "lb load",
        "bodyweight load",
        "missing max",
        "missing max of `of` (even with the exercise's own)",
        "no maxes at all",
    ],
)
def test_is_null_without_a_percent_load_and_its_max(
    resolution: Resolution | None, load: dict[str, object] | None
) -> None:
    assert resolve(resolution, load, SQUAT) is None


def test_a_series_resolves_set_by_set() -> None:
    series = [
        {"orderIndex": 0, "load": percent(50)},
        {"orderIndex": 1},
        {"orderIndex": 2, "load": {"value": 60, "unit": "kg"}},
        {"orderIndex": 3, "load": percent(80, of=BENCH)},
    ]
    resolved = resolve_series(athlete((SQUAT, 100, "kg"), (BENCH, 80, "kg")), series, SQUAT)
    assert resolved == (
        ResolvedLoad(Decimal("50.00"), "kg"),
        None,
        None,
        ResolvedLoad(Decimal("65.00"), "kg"),  # 64 -> 65 (25.6 plates rounds to 26)
    )


def test_conversion_is_exact_both_ways() -> None:
    assert Decimal("0.45359237") == KG_PER_LB
    assert convert(Decimal(1), "lb", "kg") == Decimal("0.45359237")
    assert convert(Decimal("0.45359237"), "kg", "lb") == Decimal(1)
    assert convert(Decimal(7), "kg", "kg") == Decimal(7)


@pytest.mark.parametrize(
    ("raw", "step", "expected"),
    [
        ("93.75", "2.5", "95.0"),  # tie: up
        ("93.74", "2.5", "92.5"),
        ("1.25", "2.5", "2.5"),  # tie at the first plate: up
        ("1.2499", "2.5", "0.0"),
        ("7.5", "5", "10"),  # tie: up
        ("50.05", "0.1", "50.1"),
    ],
)
def test_nearest_multiple_ties_go_up(raw: str, step: str, expected: str) -> None:
    assert nearest_multiple(Decimal(raw), Decimal(step)) == Decimal(expected)
