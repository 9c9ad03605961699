"""The effort-based load rule (CONTRACT.md § "Loads from effort (RPE and RIR)"), against
hand-computed cases.

Each row was worked out on paper from the rule as written: i = 2 x (reps - 1) + 2 x (10 - rpe)
(rpe = 10 - rir when rpe is null); u = athlete.unit else the max's unit; m = the max in u;
raw = m x RTS[i] / 100 (no training max); the multiple of rounding[u] nearest to raw, a tie
going up; then 0.01.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest

from service.domain.effort import RTS_PERCENTAGES, effective_rpe, resolve_effort, rts_index
from service.domain.loads import Resolution, ResolvedLoad, resolve
from tests.support.athletes import athlete

SQUAT = UUID("00000000-0000-4000-8000-000000000001")
BENCH = UUID("00000000-0000-4000-8000-000000000002")


def effort_set(**fields: Any) -> dict[str, Any]:
    """A set in wire form (nulls left out, as stored)."""
    return {"orderIndex": 0, "setType": "working", **fields}


def test_the_chart_is_the_contracts() -> None:
    assert len(RTS_PERCENTAGES) == 30
    assert RTS_PERCENTAGES[0] == Decimal(100)
    assert RTS_PERCENTAGES[8] == Decimal("86.3")
    assert RTS_PERCENTAGES[12] == Decimal("81.1")
    assert RTS_PERCENTAGES[29] == Decimal("58.6")
    assert all(a > b for a, b in pairwise(RTS_PERCENTAGES)), (
        "one step down the list is always less weight"
    )


@pytest.mark.parametrize(
    ("reps", "rpe", "rir", "index"),
    [
        (3, 8, None, 8),  # contract example
        (5, None, 2, 12),  # contract example (RIR 2 = RPE 8)
        (1, 10, None, 0),  # first of the chart
        (12, 6.5, None, 29),  # last of the chart
        (1, 9.5, None, 1),  # half a point less effort: one step down
        (2, 10, None, 2),  # one more rep: two steps down
        (4, None, 3, 12),  # RIR 3 = RPE 7: 2 x 3 + 2 x 3
        (4, None, 0, 6),  # RIR 0 = RPE 10: 2 x 3 + 0
        (4, 8.0, None, 10),  # a float rpe, as the wire gives it
        (6, 7.5, 1, 15),  # an rpe wins over the rir
    ],
)
def test_index_on_the_chart(reps: int, rpe: float | None, rir: int | None, index: int) -> None:
    assert rts_index(reps, rpe, rir) == index


@pytest.mark.parametrize(
    ("reps", "rpe", "rir"),
    [
        (13, 8, None),  # past the chart's reps
        (0, 8, None),
        (None, 8, None),  # no exact reps: a rep range, or a timed set
        (5.0, 8, None),  # not an int
        (True, 8, None),  # a bool is not a number of reps
        (5, 6, None),  # under the chart's effort
        (5, 10.5, None),  # over it
        (5, 7.25, None),  # not on half points
        (5, None, 4),  # RIR 4 = RPE 6: under the chart
        (5, None, -1),
        (5, 6, 2),  # an rpe off the chart is not replaced by the rir
        (5, None, None),  # no effort at all
        (5, float("nan"), None),
    ],
)
def test_no_index_off_the_chart(reps: Any, rpe: Any, rir: Any) -> None:
    assert rts_index(reps, rpe, rir) is None


def test_rir_reads_as_ten_minus_it() -> None:
    assert effective_rpe(None, 3) == Decimal(7)
    assert effective_rpe(None, 0) == Decimal(10)
    assert effective_rpe(8.5, None) == Decimal("8.5")


CASES = [
    # (why, resolution, set, expected value, expected unit)
    (
        "contract example: 200 kg, 3 reps @ RPE 8 -> i 8, 86.3 % -> raw 172.6 -> 172.5",
        athlete((SQUAT, 200, "kg")),
        effort_set(reps=3, rpe=8),
        "172.50",
        "kg",
    ),
    (
        "contract example: 100 kg, 5 reps @ RIR 2 -> i 12, 81.1 % -> raw 81.1 -> 80",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=5, rir=2),
        "80.00",
        "kg",
    ),
    (
        "last of the chart: 100 kg, 12 reps @ RPE 6.5 -> i 29, 58.6 % -> 57.5",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=12, rpe=6.5),
        "57.50",
        "kg",
    ),
    (
        "first of the chart: 100 kg, 1 rep @ RPE 10 -> i 0, 100 % -> 100",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=1, rpe=10),
        "100.00",
        "kg",
    ),
    (
        "RIR 3 = RPE 7: 100 kg, 4 reps -> i 12, 81.1 % -> 80",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=4, rir=3),
        "80.00",
        "kg",
    ),
    (
        "RIR 0 = RPE 10: 100 kg, 2 reps -> i 2, 95.5 % -> 95.5 -> 95",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=2, rir=0),
        "95.00",
        "kg",
    ),
    (
        "the training max is not applied: TM 90 changes nothing (200 kg, 3 @ 8 -> 172.5)",
        athlete((SQUAT, 200, "kg"), training_max=90),
        effort_set(reps=3, rpe=8),
        "172.50",
        "kg",
    ),
    (
        "a tie goes up: 125 kg, 5 reps @ RPE 9.5 -> i 9, 85.0 % -> 106.25 -> 107.5",
        athlete((SQUAT, 125, "kg")),
        effort_set(reps=5, rpe=9.5),
        "107.50",
        "kg",
    ),
    (
        "lb max, lb plates 5: 315 lb, 5 reps @ RPE 9 -> i 10, 83.7 % -> 263.655 -> 265",
        athlete((SQUAT, 315, "lb")),
        effort_set(reps=5, rpe=9),
        "265.00",
        "lb",
    ),
    (
        "kg max, kg plates 1.25: 175 kg, 2 reps @ RPE 9.5 -> i 3, 93.9 % -> 164.325 -> 163.75",
        athlete((SQUAT, 175, "kg"), kg=1.25),
        effort_set(reps=2, rpe=9.5),
        "163.75",
        "kg",
    ),
    (
        "lb max shown in kg: 225 lb = 102.05828325 kg; 3 @ 8 -> 88.076298... -> 87.5",
        athlete((SQUAT, 225, "lb"), unit="kg"),
        effort_set(reps=3, rpe=8),
        "87.50",
        "kg",
    ),
    (
        "an rpe wins over an rir: 100 kg, 6 reps @ RPE 7.5 (RIR 1 ignored) -> i 15, 77.4 % -> 77.5",
        athlete((SQUAT, 100, "kg")),
        effort_set(reps=6, rpe=7.5, rir=1),
        "77.50",
        "kg",
    ),
]


@pytest.mark.parametrize(
    ("resolution", "item", "value", "unit"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_resolves_as_computed_by_hand(
    resolution: Resolution, item: dict[str, Any], value: str, unit: str
) -> None:
    assert resolve_effort(resolution, item, SQUAT) == ResolvedLoad(Decimal(value), unit)


def test_the_value_carries_exactly_two_places() -> None:
    resolved = resolve_effort(athlete((SQUAT, 200, "kg")), effort_set(reps=3, rpe=8), SQUAT)
    assert resolved is not None
    assert resolved.value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("resolution", "item"),
    [
        (None, effort_set(reps=3, rpe=8)),  # a template
        (athlete((BENCH, 100, "kg")), effort_set(reps=3, rpe=8)),  # no max for the exercise
        (athlete(), effort_set(reps=3, rpe=8)),  # an athlete without maxes
        (athlete((SQUAT, 100, "kg")), effort_set(reps=13, rpe=8)),
        (athlete((SQUAT, 100, "kg")), effort_set(reps=5, rpe=6)),  # a valid set, not resolved
        (athlete((SQUAT, 100, "kg")), effort_set(reps=5, rpe=10.5)),
        (athlete((SQUAT, 100, "kg")), effort_set(reps=5, rpe=7.25)),
        (athlete((SQUAT, 100, "kg")), effort_set(repsMin=3, repsMax=5, rpe=8)),
        (athlete((SQUAT, 100, "kg")), effort_set(reps=5)),  # no effort
        (athlete((SQUAT, 100, "kg")), effort_set(durationSeconds=30, rpe=8)),
        (
            athlete((SQUAT, 100, "kg")),
            effort_set(reps=5, rpe=8, load={"value": 60, "unit": "kg"}),
        ),
        (
            athlete((SQUAT, 100, "kg")),
            effort_set(reps=5, rpe=8, load={"value": 135, "unit": "lb"}),
        ),
        (
            athlete((SQUAT, 100, "kg")),
            effort_set(reps=5, rpe=8, load={"value": 10, "unit": "bodyweight"}),
        ),
        (
            athlete((SQUAT, 100, "kg")),
            effort_set(reps=5, rpe=8, load={"value": 70, "unit": "percent1rm"}),
        ),
    ],
    ids=[
        "template",
        "missing max",
        "no maxes at all",
        "reps 13",
        "rpe 6 with rir None",
        "rpe 10.5",
        "rpe 7.25",
        "rep range",
        "no effort",
        "timed set",
        "own kg load",
        "own lb load",
        "own bodyweight load",
        "own percent1rm load (resolved from the max instead)",
    ],
)
def test_is_null_off_the_chart_or_with_a_load(
    resolution: Resolution | None, item: dict[str, Any]
) -> None:
    assert resolve_effort(resolution, item, SQUAT) is None


def test_a_percent_load_resolves_first_and_effort_after() -> None:
    """How a caller combines the two rules: they never both answer for one set."""
    resolution = athlete((SQUAT, 100, "kg"), training_max=90)
    series = [
        effort_set(reps=5, rpe=8, load={"value": 70, "unit": "percent1rm"}),  # 63 -> 62.5
        effort_set(reps=5, rir=2),  # 81.1 -> 80: no training max
        effort_set(reps=5, rpe=8, load={"value": 60, "unit": "kg"}),
        effort_set(reps=5, rpe=6),
    ]
    resolved = [
        resolve(resolution, item.get("load"), SQUAT) or resolve_effort(resolution, item, SQUAT)
        for item in series
    ]
    assert resolved == [
        ResolvedLoad(Decimal("62.50"), "kg"),
        ResolvedLoad(Decimal("80.00"), "kg"),
        None,
        None,
    ]
