"""Each rule and limit of CONTRACT.md, both sides of every bound, through `parse_command`.

A row is (what is changed, whether it is accepted, and if not the path the error must name).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from contracts.commands import MAX_COMMAND_BYTES
from contracts.dlq import DeadLetterCode
from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.results import ErrorCode
from tests.support.parsing import parse
from tests.unit.contracts.test_artifacts import EXAMPLES

ADD = EXAMPLES["commands"]["series.add"]
REPLACE = EXAMPLES["commands"]["series.replace"]
CREATE = EXAMPLES["commands"]["program.create"]


def assert_refused(
    outcome: object, path: str, code: ErrorCode = ErrorCode.VALIDATION_FAILED
) -> str:
    assert isinstance(outcome, Refused), outcome
    assert outcome.error.code is code
    paths = [detail.path for detail in outcome.error.details]
    assert path in paths, paths
    reason = next(detail.reason for detail in outcome.error.details if detail.path == path)
    assert len(reason) > 10, reason  # a sentence a person can act on, not a code
    return reason


SET_RULES = [
    # field, accepted values, refused values, path of the error
    ("reps", [0, 1000], [-1, 1001, 5.5, "5"], "set.reps"),
    ("durationSeconds", [1, 86_400], [0, 86_401], "set.durationSeconds"),
    ("rpe", [1, 7.5, 10], [0.5, 10.5, 7.3], "set.rpe"),
    ("rir", [0, 10], [-1, 11], "set.rir"),
    ("restSeconds", [0, 3600], [-1, 3601], "set.restSeconds"),
    ("notes", ["x" * 500, None], ["x" * 501], "set.notes"),
    (
        "tempo",
        ["31X0", "3-1-X-0", "2010", "X0X0"],
        ["31X", "3-1-X0", "31x0", "3--1X0", ""],
        "set.tempo",
    ),
    (
        "setType",
        ["warmup", "working", "dropset", "cluster", "amrap", "failure"],
        ["giant"],
        "set.setType",
    ),
]


@pytest.mark.parametrize(("field", "good", "bad", "path"), SET_RULES, ids=[r[0] for r in SET_RULES])
def test_set_field_bounds(field: str, good: list[Any], bad: list[Any], path: str) -> None:
    for value in good:
        assert isinstance(parse({**ADD, "set": {"reps": 5, field: value}}), Parsed), value
    for value in bad:
        assert_refused(parse({**ADD, "set": {"reps": 5, field: value}}), path)


@pytest.mark.parametrize(
    ("load", "accepted", "path"),
    [
        ({"value": 0, "unit": "kg"}, True, ""),
        ({"value": 142.5, "unit": "lb"}, True, ""),
        ({"value": 200, "unit": "percent1rm"}, True, ""),
        ({"value": 0, "unit": "bodyweight"}, True, ""),
        ({"value": -0.5, "unit": "kg"}, False, "set.load.value"),
        ({"value": 200.5, "unit": "percent1rm"}, False, "set.load"),
        ({"value": 20, "unit": "stone"}, False, "set.load.unit"),
        ({"value": 20}, False, "set.load.unit"),
        ({"value": 20, "unit": "kg", "per": "side"}, False, "set.load.per"),
    ],
)
def test_load(load: dict[str, Any], accepted: bool, path: str) -> None:
    outcome = parse({**ADD, "set": {"reps": 5, "load": load}})
    if accepted:
        assert isinstance(outcome, Parsed)
    else:
        assert_refused(outcome, path)


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"repsMin": 0, "repsMax": 1000}, True),
        ({"repsMin": 8, "repsMax": 8}, True),
        ({"repsMin": 9, "repsMax": 8}, False),
        ({"repsMin": 8}, False),
        ({"repsMax": 8}, False),
        ({"reps": 8, "repsMin": 6, "repsMax": 8}, False),
        ({"repsMin": 6, "repsMax": 1001}, False),
        ({}, True),  # a set without reps: a timed or free-form set
    ],
)
def test_rep_range(fields: dict[str, Any], accepted: bool) -> None:
    outcome = parse({**ADD, "set": fields})
    if accepted:
        assert isinstance(outcome, Parsed)
    else:
        assert isinstance(outcome, Refused)
        assert outcome.error.details[0].path.startswith("set")


def test_set_type_defaults_to_working() -> None:
    outcome = parse({**ADD, "set": {"reps": 5}})
    assert isinstance(outcome, Parsed)
    assert outcome.command.set.set_type.value == "working"  # type: ignore[union-attr]


def test_unknown_set_field_is_named() -> None:
    reason = assert_refused(parse({**ADD, "set": {"reps": 5, "weight": 100}}), "set.weight")
    assert "unknown field" in reason


def test_series_order_index_must_equal_position() -> None:
    good = [{"reps": 5, "orderIndex": 0}, {"reps": 5}, {"reps": 5, "orderIndex": 2}]
    assert isinstance(parse({**REPLACE, "series": good}), Parsed)
    bad = [{"reps": 5, "orderIndex": 0}, {"reps": 5, "orderIndex": 2}]
    assert_refused(parse({**REPLACE, "series": bad}), "series[1].orderIndex")


def test_series_holds_at_most_50_sets() -> None:
    assert isinstance(parse({**REPLACE, "series": [{"reps": 5}] * 50}), Parsed)
    assert_refused(parse({**REPLACE, "series": [{"reps": 5}] * 51}), "series")


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("tenantId", ["t", "t" * 100], ["", "t" * 101, 7]),
        ("programId", ["5a170000-0000-4000-8000-000000000001"], ["p-1", 1]),
        ("expectedVersion", [0, 7, None], [-1, "7"]),
        (
            "issuedAt",
            ["2026-11-24T09:00:00Z", "2026-11-24T10:00:00+01:00"],
            ["yesterday", "2026-11-24T09:00:00"],
        ),
        ("name", ["A", "x" * 200], ["", "x" * 201]),
        ("weeks", [1, 52], [0, 53]),
    ],
)
def test_common_and_create_fields(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert isinstance(parse({**CREATE, field: value}), Parsed), value
    for value in bad:
        assert_refused(parse({**CREATE, field: value}), field)


def test_unknown_top_level_field_is_rejected_not_dropped() -> None:
    assert_refused(parse({**CREATE, "colour": "red"}), "colour")


def test_required_fields_are_named() -> None:
    for field in ("tenantId", "programId", "name"):
        document = {k: v for k, v in CREATE.items() if k != field}
        assert_refused(parse(document), field)


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ({**EXAMPLES["commands"]["program.update"], "name": None, "weeks": None}, ""),
        ({**EXAMPLES["commands"]["exercise.move"], "toGroupId": CREATE["programId"]}, ""),
        (
            {
                **EXAMPLES["commands"]["exercises.group"],
                "programExerciseIds": [CREATE["programId"]],
            },
            "programExerciseIds",
        ),
        (
            {
                **EXAMPLES["commands"]["exercises.group"],
                "programExerciseIds": [CREATE["programId"]] * 2,
            },
            "",
        ),
        ({**EXAMPLES["commands"]["group.update"], "rounds": 21}, "rounds"),
        ({**EXAMPLES["commands"]["group.update"], "rounds": 0}, "rounds"),
        (
            {
                key: value
                for key, value in EXAMPLES["commands"]["group.update"].items()
                if key not in ("rounds", "restBetweenRoundsSeconds", "notes")
            },
            "",
        ),
        ({**EXAMPLES["commands"]["series.move"], "to": -1}, "to"),
        ({**EXAMPLES["commands"]["series.update"], "week": 52}, "week"),
        ({**EXAMPLES["commands"]["session.add"], "position": -1}, "position"),
    ],
)
def test_command_specific_rules(command: dict[str, Any], path: str) -> None:
    assert_refused(parse(command), path)


def test_exercises_group_takes_up_to_12_exercises() -> None:
    ids = [f"5a170000-0000-4000-8000-0000000009{n:02d}" for n in range(13)]
    group = EXAMPLES["commands"]["exercises.group"]
    assert isinstance(parse({**group, "programExerciseIds": ids[:12]}), Parsed)
    assert_refused(parse({**group, "programExerciseIds": ids}), "programExerciseIds")


def test_batch_holds_1_to_200_edits() -> None:
    batch = EXAMPLES["commands"]["batch"]
    operation = batch["operations"][0]
    assert isinstance(parse({**batch, "operations": [operation] * 200}), Parsed)
    assert_refused(parse({**batch, "operations": [operation] * 201}), "operations")
    assert_refused(parse({**batch, "operations": []}), "operations")


@pytest.mark.parametrize(
    "excluded", ["program.create", "program.import", "program.republish", "batch"]
)
def test_batch_refuses_non_edits(excluded: str) -> None:
    batch = EXAMPLES["commands"]["batch"]
    assert_refused(parse({**batch, "operations": [{"type": excluded}]}), "operations[0].type")


def set_at(document: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at `path`, written as a refusal's details write it (`a.b[1].c`)."""
    *parents, last = [
        int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", path)
    ]
    target: Any = document
    for step in parents:
        target = target[step]
    target[last] = value


LEGACY = "program.import (legacy)"


@pytest.mark.parametrize(
    ("example", "path", "value"),
    [
        ("batch", "operations[1].series[2].rpe", 11),  # inside a batch: names the operation
        (LEGACY, "program.sessions[0].exercises[1].orderIndex", 0),  # an order index twice
        (LEGACY, "program.sessions[0].exercises[2].prescriptionRows[0].sets", 0),  # sets < 1
        (LEGACY, "program.sessions[0].exercises[2].color", "red"),  # an unknown field
        (LEGACY, "program.sessions[0].exercises[0].prescriptionRows[2].week", 2),  # past weeks
    ],
)
def test_a_nested_fault_is_refused_at_its_path(example: str, path: str, value: Any) -> None:
    """One value made wrong deep inside an example: the refusal names exactly that place."""
    command = copy.deepcopy(EXAMPLES["commands"][example])
    set_at(command, path, value)
    assert_refused(parse(command), path)


def test_v1_snapshot_repeated_id_is_refused() -> None:
    command = copy.deepcopy(EXAMPLES["commands"]["program.import (v1)"])
    groups = command["program"]["sessions"][0]["groups"]
    groups[1]["groupId"] = groups[0]["groupId"]
    assert_refused(parse(command), "program.sessions[0].groups[1].groupId")


# --- what cannot have a result goes to the DLQ; an unknown type is `unsupported`


def test_size_limit_is_256_kib() -> None:
    padding = MAX_COMMAND_BYTES - len(json.dumps({**CREATE, "name": ""}).encode())
    at_limit = (
        json.dumps({**CREATE, "name": ""})
        .encode()
        .replace(b'"name": ""', b'"name": ""' + b" " * padding)
    )
    assert len(at_limit) == MAX_COMMAND_BYTES
    assert isinstance(parse_command(at_limit), Refused)  # within the limit: an empty name
    outcome = parse_command(at_limit + b" ")
    assert isinstance(outcome, DeadLetter) and outcome.code is DeadLetterCode.TOO_LARGE


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (b"\xff\xfe", DeadLetterCode.NOT_JSON),
        (b"{", DeadLetterCode.NOT_JSON),
        (None, DeadLetterCode.NOT_JSON),
        (b"[1, 2]", DeadLetterCode.NOT_AN_OBJECT),
        (b'"program.create"', DeadLetterCode.NOT_AN_OBJECT),
        (b'{"type": "program.create"}', DeadLetterCode.NO_COMMAND_ID),
        (b'{"commandId": "c-1", "type": "program.create"}', DeadLetterCode.NO_COMMAND_ID),
    ],
)
def test_dead_letters(value: bytes | None, code: DeadLetterCode) -> None:
    outcome = parse_command(value)
    assert isinstance(outcome, DeadLetter)
    assert outcome.code is code
    assert outcome.message


def test_unknown_type_is_unsupported_and_lists_the_types() -> None:
    reason = assert_refused(
        parse({**CREATE, "type": "program.explode"}), "type", ErrorCode.UNSUPPORTED
    )
    assert "series.replace" in reason


def test_a_refusal_keeps_what_it_can_identify() -> None:
    outcome = parse({**CREATE, "weeks": 99})
    assert isinstance(outcome, Refused)
    assert str(outcome.command_id) == CREATE["commandId"]
    assert outcome.type == "program.create"
    assert str(outcome.program_id) == CREATE["programId"]
    assert outcome.tenant_id == CREATE["tenantId"]
    assert outcome.error.message.startswith("weeks")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": "Bench\u0000press"}, "name"),
        ({"tenantId": "coach\u0000"}, "tenantId"),
        ({"series": [{"reps": 5, "notes": "\u0000"}]}, "series[0].notes"),
    ],
)
def test_text_with_nul_is_refused_at_its_path(change: dict[str, Any], path: str) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb: refused up front, never a database error."""
    outcome = parse({**EXAMPLES["commands"]["exercise.add"], **change})
    assert_refused(outcome, path)
    assert isinstance(outcome, Refused)
    assert "NUL" in outcome.error.message
    assert outcome.tenant_id is None or "\u0000" not in outcome.tenant_id


def test_echoed_text_is_storable() -> None:
    """Paths and types taken from a hostile message are escaped before they reach a result."""
    command = {**EXAMPLES["commands"]["exercise.add"], "na\u0000me": 1, "tenantId": "\ud800"}
    outcome = parse(command)
    assert isinstance(outcome, Refused)
    assert outcome.tenant_id is None
    assert all("\u0000" not in d.path for d in outcome.error.details)
    unknown = parse({**command, "type": "program.\u0000\ud800"})
    assert isinstance(unknown, Refused)
    assert "\u0000" not in unknown.type
    unknown.type.encode()  # no lone surrogate left
