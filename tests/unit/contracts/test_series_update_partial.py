"""`series.update` (CONTRACT.md row): a partial set that breaks a rule by itself is
`validation_failed` at the offending field; one that breaks a rule only once merged with the
stored set is `invariant_violated`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts import generate
from contracts.parsing import Parsed, Refused, parse_command
from contracts.results import ErrorCode
from service.domain.errors import InvariantViolated
from tests.unit.domain.test_commands import Editor, add_exercise, with_session

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(generate.__file__).parent / "examples.json").read_text()
)
UPDATE = EXAMPLES["commands"]["series.update"]
ENVELOPE = {"commandId", "tenantId", "programId", "expectedVersion", "issuedAt"}


def refused_at(partial: dict[str, Any], *, in_batch: bool = False) -> tuple[ErrorCode, list[str]]:
    command: dict[str, Any] = {**UPDATE, "set": partial}
    if in_batch:
        operation = {k: v for k, v in command.items() if k not in ENVELOPE}
        command = {**EXAMPLES["commands"]["batch"], "operations": [operation]}
    outcome = parse_command(json.dumps(command).encode())
    assert isinstance(outcome, Refused), partial
    return outcome.error.code, [detail.path for detail in outcome.error.details]


@pytest.mark.parametrize(
    ("partial", "path"),
    [
        ({"reps": 3, "repsMin": 5, "repsMax": 8}, "set.reps"),
        ({"reps": 3, "repsMin": 5}, "set.reps"),
        ({"reps": 3, "repsMax": 8}, "set.reps"),
        ({"repsMin": 9, "repsMax": 8}, "set.repsMin"),
    ],
)
def test_a_partial_that_contradicts_itself_is_validation_failed(
    partial: dict[str, Any], path: str
) -> None:
    assert refused_at(partial) == (ErrorCode.VALIDATION_FAILED, [path])
    assert refused_at(partial, in_batch=True) == (
        ErrorCode.VALIDATION_FAILED,
        [f"operations[0].{path}"],
    )


@pytest.mark.parametrize(
    "partial",
    [
        {"reps": 3, "repsMin": None, "repsMax": None},  # replaces a range by exact reps
        {"repsMin": 5},  # whether a range results depends on the stored set
        {"reps": None, "repsMin": 5, "repsMax": 8},
    ],
)
def test_a_partial_that_is_consistent_alone_parses(partial: dict[str, Any]) -> None:
    assert isinstance(parse_command(json.dumps({**UPDATE, "set": partial}).encode()), Parsed)


def test_a_partial_that_breaks_a_rule_only_once_merged_is_invariant_violated() -> None:
    editor = Editor()
    editor.run("program.create", name="Block", weeks=1)
    exercise = add_exercise(editor, with_session(editor), series=[{"reps": 5}])
    rejection = editor.refused(
        "series.update", programExerciseId=exercise, index=0, set={"repsMin": 3, "repsMax": 5}
    )
    assert isinstance(rejection, InvariantViolated)
    editor.run(
        "series.update",
        programExerciseId=exercise,
        index=0,
        set={"reps": None, "repsMin": 3, "repsMax": 5},
    )
    assert editor.program is not None
    [series] = [p.series for p in editor.program.prescriptions_of(exercise).values()]
    assert series[0]["repsMin"] == 3
    assert "reps" not in series[0]
