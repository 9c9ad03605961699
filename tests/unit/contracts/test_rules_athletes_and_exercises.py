"""The limits of the athlete, maxes, exercise.update and `of`: each both sides of its bound, and
the field path `validation_failed` names when the command alone breaks it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.parsing import Parsed
from tests.support.parsing import parse, refusal
from tests.unit.contracts.test_artifacts import EXAMPLES

ASSIGN = EXAMPLES["commands"]["program.assign"]
MAXES = EXAMPLES["commands"]["maxes.set"]
UPDATE = EXAMPLES["commands"]["exercise.update"]
COPY = EXAMPLES["commands"]["program.copy (to an athlete)"]
IMPORT = EXAMPLES["commands"]["program.import (v1, assigned)"]
REPLACE = EXAMPLES["commands"]["series.replace"]
UUIDS = [f"5a170000-0000-4000-8000-0000000009{n:02x}" for n in range(256)]


def refused_at(document: Any, path: str) -> None:
    refusal(document, path)


def with_athlete(**fields: Any) -> dict[str, Any]:
    return {**ASSIGN, "athlete": {**ASSIGN["athlete"], **fields}}


def maxes(count: int) -> list[dict[str, Any]]:
    return [{"exerciseId": UUIDS[n], "value": 100, "unit": "kg"} for n in range(count)]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"athleteId": ""}, "athlete.athleteId"),
        ({"athleteId": "x" * 101}, "athlete.athleteId"),
        ({"trainingMaxPercent": 49.5}, "athlete.trainingMaxPercent"),
        ({"trainingMaxPercent": 100.5}, "athlete.trainingMaxPercent"),
        ({"trainingMaxPercent": 90.25}, "athlete.trainingMaxPercent"),
        ({"rounding": {"kg": 0}}, "athlete.rounding.kg"),
        ({"rounding": {"kg": 50.5}}, "athlete.rounding.kg"),
        ({"rounding": {"lb": 100.5}}, "athlete.rounding.lb"),
        ({"rounding": {"plates": 2.5}}, "athlete.rounding.plates"),
        ({"unit": "percent1rm"}, "athlete.unit"),
        ({"maxes": maxes(201)}, "athlete.maxes"),
        ({"maxes": [{"exerciseId": UUIDS[0], "value": 0, "unit": "kg"}]}, "athlete.maxes[0].value"),
        (
            {"maxes": [{"exerciseId": UUIDS[0], "value": 2000.5, "unit": "kg"}]},
            "athlete.maxes[0].value",
        ),
        ({"maxes": [{"exerciseId": UUIDS[0], "value": 100}]}, "athlete.maxes[0].unit"),
        ({"maxes": [*maxes(1), *maxes(1)]}, "athlete.maxes[1].exerciseId"),
    ],
)
def test_athlete_limits(fields: dict[str, Any], path: str) -> None:
    refused_at(with_athlete(**fields), path)


@pytest.mark.parametrize(
    "fields",
    [
        {"trainingMaxPercent": 50},
        {"trainingMaxPercent": 100},
        {"trainingMaxPercent": 87.5},
        {"rounding": {"kg": 0.01, "lb": 100}},
        {"rounding": {"kg": 50}},
        {"unit": None},
        {"unit": "lb"},
        {"maxes": maxes(200)},
        {"maxes": [{"exerciseId": UUIDS[0], "value": 2000, "unit": "lb"}]},
    ],
)
def test_athlete_bounds_accepted(fields: dict[str, Any]) -> None:
    assert isinstance(parse(with_athlete(**fields)), Parsed)


def test_athlete_defaults_are_filled_in() -> None:
    outcome = parse({**ASSIGN, "athlete": {"athleteId": "a"}})
    assert isinstance(outcome, Parsed)
    assert outcome.command.athlete.to_wire() == {  # type: ignore[union-attr]
        "athleteId": "a",
        "maxes": [],
        "trainingMaxPercent": 100.0,
        "rounding": {"kg": 2.5, "lb": 5.0},
        "unit": None,
    }


def test_a_given_rounding_replaces_both_units() -> None:
    outcome = parse({**ASSIGN, "athlete": {"athleteId": "a", "rounding": {"kg": 1}}})
    assert isinstance(outcome, Parsed)
    assert outcome.command.athlete.rounding.to_wire() == {"kg": 1.0, "lb": 5.0}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ([], "maxes"),
        (maxes(201), "maxes"),
        ([*maxes(1), *maxes(1)], "maxes[1].exerciseId"),
        ([{"exerciseId": UUIDS[0], "value": None, "unit": "kg"}], "maxes[0].unit"),
        ([{"exerciseId": UUIDS[0], "value": 100}], "maxes[0].unit"),
        ([{"exerciseId": UUIDS[0], "value": -1, "unit": "kg"}], "maxes[0].value"),
        ([{"exerciseId": UUIDS[0], "unit": "kg"}], "maxes[0].value"),
    ],
)
def test_maxes_set_limits(changes: list[dict[str, Any]], path: str) -> None:
    refused_at({**MAXES, "maxes": changes}, path)


def test_maxes_set_deletes_with_null() -> None:
    assert isinstance(parse({**MAXES, "maxes": [{"exerciseId": UUIDS[0], "value": None}]}), Parsed)
    assert isinstance(parse({**MAXES, "maxes": maxes(200)}), Parsed)


def _update(**fields: Any) -> dict[str, Any]:
    base = {k: v for k, v in UPDATE.items() if k not in ("notes", "alternatives", "progression")}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({}, ""),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": None}, "name"),
        ({"exerciseId": None}, "exerciseId"),
        ({"notes": "x" * 501}, "notes"),
        (
            {"alternatives": [{"exerciseId": UUIDS[n], "name": "Alt"} for n in range(11)]},
            "alternatives",
        ),
        ({"alternatives": [{"exerciseId": UUIDS[0], "name": ""}]}, "alternatives[0].name"),
        (
            {"alternatives": [{"exerciseId": UUIDS[0], "name": "A"}] * 2},
            "alternatives[1].exerciseId",
        ),
        (
            {"exerciseId": UUIDS[0], "alternatives": [{"exerciseId": UUIDS[0], "name": "A"}]},
            "alternatives[0].exerciseId",
        ),
        ({"progression": {"kind": "wave"}}, "progression.kind"),
        (
            {"progression": {"kind": "linear", "loadStep": {"value": 0, "unit": "kg"}}},
            "progression.loadStep.value",
        ),
        (
            {"progression": {"kind": "linear", "loadStep": {"value": 100.5, "unit": "kg"}}},
            "progression.loadStep.value",
        ),
        (
            {"progression": {"kind": "linear", "loadStep": {"value": 2.5, "unit": "bodyweight"}}},
            "progression.loadStep.unit",
        ),
        (
            {
                "progression": {
                    "kind": "linear",
                    "loadStep": {"value": 2.5, "unit": "kg"},
                    "failuresBeforeDeload": 11,
                }
            },
            "progression.failuresBeforeDeload",
        ),
        (
            {
                "progression": {
                    "kind": "linear",
                    "loadStep": {"value": 2.5, "unit": "kg"},
                    "deloadPercent": 51,
                }
            },
            "progression.deloadPercent",
        ),
        (
            {
                "progression": {
                    "kind": "linear",
                    "loadStep": {"value": 2.5, "unit": "kg"},
                    "repsMin": 8,
                }
            },
            "progression.repsMin",
        ),
        (
            {
                "progression": {
                    "kind": "double",
                    "repsMin": 12,
                    "repsMax": 12,
                    "loadStep": {"value": 2.5, "unit": "kg"},
                }
            },
            "progression.repsMin",
        ),
        (
            {
                "progression": {
                    "kind": "double",
                    "repsMin": 0,
                    "repsMax": 12,
                    "loadStep": {"value": 2.5, "unit": "kg"},
                }
            },
            "progression.repsMin",
        ),
        (
            {
                "progression": {
                    "kind": "double",
                    "repsMin": 8,
                    "repsMax": 101,
                    "loadStep": {"value": 2.5, "unit": "kg"},
                }
            },
            "progression.repsMax",
        ),
        (
            {
                "progression": {
                    "kind": "double",
                    "repsMin": 8,
                    "repsMax": 12,
                    "loadStep": {"value": 2.5, "unit": "kg"},
                    "deloadPercent": 10,
                }
            },
            "progression.deloadPercent",
        ),
    ],
)
def test_exercise_update_limits(fields: dict[str, Any], path: str) -> None:
    refused_at(_update(**fields), path)


@pytest.mark.parametrize(
    "fields",
    [
        {"notes": None},
        {"alternatives": None},
        {"progression": None},
        {"alternatives": []},
        {"alternatives": [{"exerciseId": UUIDS[n], "name": "Alt"} for n in range(10)]},
        {"notes": "x" * 500, "name": "x" * 200},
        {"exerciseId": UUIDS[0]},
        {
            "progression": {
                "kind": "double",
                "repsMin": 1,
                "repsMax": 100,
                "loadStep": {"value": 0.01, "unit": "percent1rm"},
            }
        },
    ],
)
def test_exercise_update_accepts(fields: dict[str, Any]) -> None:
    assert isinstance(parse(_update(**fields)), Parsed)


def test_progression_defaults_are_filled_in() -> None:
    outcome = parse(
        _update(progression={"kind": "linear", "loadStep": {"value": 2.5, "unit": "kg"}})
    )
    assert isinstance(outcome, Parsed)
    assert outcome.command.progression.to_wire() == {  # type: ignore[union-attr]
        "kind": "linear",
        "loadStep": {"value": 2.5, "unit": "kg"},
        "failuresBeforeDeload": 3,
        "deloadPercent": 10.0,
    }


def test_of_only_on_a_percent1rm_load() -> None:
    series = copy.deepcopy(REPLACE["series"])
    series[0]["load"] = {"value": 100, "unit": "kg", "of": UUIDS[0]}
    refused_at({**REPLACE, "series": series}, "series[0].load.of")
    series[0]["load"] = {"value": 80, "unit": "percent1rm", "of": UUIDS[0]}
    assert isinstance(parse({**REPLACE, "series": series}), Parsed)


def test_resolved_load_is_output_only() -> None:
    series = copy.deepcopy(REPLACE["series"])
    series[0]["resolvedLoad"] = {"value": 100, "unit": "kg"}
    refused_at({**REPLACE, "series": series}, "series[0].resolvedLoad")


def test_program_copy_athlete_is_checked_and_may_be_null() -> None:
    assert isinstance(parse({**COPY, "athlete": None}), Parsed)
    refused_at({**COPY, "athlete": {"athleteId": ""}}, "athlete.athleteId")


def test_import_checks_its_exercises_and_athlete() -> None:
    document = copy.deepcopy(IMPORT)
    exercise = document["program"]["sessions"][0]["groups"][0]["exercises"][0]
    exercise["alternatives"] = [{"exerciseId": exercise["exerciseId"], "name": "Itself"}]
    refused_at(document, "program.sessions[0].groups[0].exercises[0].alternatives[0].exerciseId")
    document = copy.deepcopy(IMPORT)
    document["program"]["athlete"]["trainingMaxPercent"] = 40
    refused_at(document, "program.athlete.trainingMaxPercent")


@pytest.mark.parametrize(
    "kind", ["program.assign", "program.unassign", "maxes.set", "exercise.update"]
)
def test_every_new_command_may_stand_in_a_batch(kind: str) -> None:
    batch = EXAMPLES["commands"]["batch (athlete)"]
    examples = [e for e in EXAMPLES["commands"].values() if e["type"] == kind]
    body = {
        k: v
        for k, v in examples[0].items()
        if k not in ("commandId", "tenantId", "programId", "issuedAt", "expectedVersion")
    }
    assert isinstance(parse({**batch, "operations": [body]}), Parsed)
