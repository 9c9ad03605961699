"""Properties: any valid series round-trips through JSON unchanged; no input makes the parser
raise."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.series import Series
from tests.unit.contracts.test_artifacts import EXAMPLES

SERIES = TypeAdapter(Series)

tempo_phase = st.sampled_from([*"0123456789", "X"])


@st.composite
def tempos(draw: st.DrawFn) -> str:
    phases = draw(st.lists(tempo_phase, min_size=4, max_size=4))
    return ("-" if draw(st.booleans()) else "").join(phases)


@st.composite
def loads(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(["kg", "lb", "percent1rm", "bodyweight"]))
    top = 200 if unit == "percent1rm" else 1000
    value = draw(st.integers(0, top * 4).map(lambda quarter: quarter / 4))
    return {"value": value, "unit": unit}


@st.composite
def sets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid set as a producer would write it (nulls omitted or explicit)."""
    fields: dict[str, Any] = {}
    reps_kind = draw(st.sampled_from(["exact", "range", "none"]))
    if reps_kind == "exact":
        fields["reps"] = draw(st.integers(0, 1000))
    elif reps_kind == "range":
        low = draw(st.integers(0, 1000))
        fields["repsMin"], fields["repsMax"] = low, draw(st.integers(low, 1000))
    candidates = {
        "setType": st.sampled_from(["warmup", "working", "dropset", "cluster", "amrap", "failure"]),
        "durationSeconds": st.integers(1, 86_400),
        "load": loads(),
        "rpe": st.integers(2, 20).map(lambda half: half / 2),
        "rir": st.integers(0, 10),
        "tempo": tempos(),
        "restSeconds": st.integers(0, 3600),
        "notes": st.text(max_size=500),
    }
    for name, strategy in candidates.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    return fields


@settings(max_examples=200, deadline=None)
@given(st.lists(sets(), max_size=50))
def test_valid_series_round_trips_through_json(written: list[dict[str, Any]]) -> None:
    # As the service emits a series: every set with its position and type, no nulls.
    canonical = [{"orderIndex": i, "setType": "working", **s} for i, s in enumerate(written)]
    series = SERIES.validate_json(json.dumps(canonical))
    emitted = SERIES.dump_json(series, by_alias=True)
    assert json.loads(emitted) == canonical
    assert SERIES.validate_json(emitted) == series


def _assert_classified(outcome: object) -> None:
    assert isinstance(outcome, Parsed | Refused | DeadLetter)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    _assert_classified(parse_command(value))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(document: Any) -> None:
    _assert_classified(parse_command(json.dumps(document).encode()))


EXAMPLE_COMMANDS = list(EXAMPLES["commands"].values())


@st.composite
def mutated_commands(draw: st.DrawFn) -> dict[str, Any]:
    """A real command with one field somewhere replaced by an arbitrary JSON value."""
    command = json.loads(json.dumps(draw(st.sampled_from(EXAMPLE_COMMANDS))))
    node: Any = command
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(json_values)
        break
    return command


@settings(max_examples=400, deadline=None)
@given(mutated_commands())
def test_mutated_commands_are_classified_without_raising(command: dict[str, Any]) -> None:
    outcome = parse_command(json.dumps(command).encode())
    _assert_classified(outcome)
    if isinstance(outcome, Refused):
        assert outcome.error.details, "a refusal says where and why"
