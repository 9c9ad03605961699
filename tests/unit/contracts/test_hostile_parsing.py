"""Hostile bytes to a command, a rejection or a dead letter (`contracts.parsing`): numbers beyond
any parser's range, encodings that are not UTF-8, names past their limit, duplicate keys."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from contracts.dlq import DeadLetterCode
from contracts.headers import TOPIC_NAME_PATTERN
from contracts.parsing import DeadLetter, Parsed, Refused, parse_command

PROGRAM = str(uuid.uuid4())


def body(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "commandId": str(uuid.uuid4()),
        "type": kind,
        "tenantId": "t",
        "programId": PROGRAM,
        **fields,
    }


def add_set(**set_fields: Any) -> dict[str, Any]:
    return body("series.add", programExerciseId=str(uuid.uuid4()), set=set_fields)


def refused_at(value: bytes) -> list[str]:
    outcome = parse_command(value)
    assert isinstance(outcome, Refused), outcome
    assert outcome.error.code == "validation_failed"
    return [detail.path for detail in outcome.error.details]


@pytest.mark.parametrize("digits", [4301, 5001, 100_000])
@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_of_thousands_of_digits_is_refused_at_its_field(digits: int, sign: str) -> None:
    text = json.dumps(add_set(reps=1)).replace('"reps": 1', f'"reps": {sign}{"9" * digits}')
    assert refused_at(text.encode()) == ["set.reps"]


def test_every_out_of_range_number_is_named_also_in_a_batch() -> None:
    huge = "7" * 5001
    command = body(
        "batch",
        operations=[
            {"type": "series.add", "programExerciseId": str(uuid.uuid4()), "set": {"reps": 1}},
            {"type": "program.update", "weeks": 2},
        ],
    )
    text = json.dumps(command).replace('"reps": 1', f'"reps": {huge}')
    text = text.replace('"weeks": 2', f'"weeks": {huge}')
    assert refused_at(text.encode()) == ["operations[0].set.reps", "operations[1].weeks"]


def test_a_huge_number_where_the_command_id_stands_has_no_command_id() -> None:
    text = json.dumps(body("program.create", name="x")).replace(
        '"commandId": "', '"commandId": ' + "1" * 5000 + ', "was": "'
    )
    outcome = parse_command(text.encode())
    assert isinstance(outcome, DeadLetter)
    assert outcome.code == DeadLetterCode.NO_COMMAND_ID


def test_floats_beyond_range_are_refused_at_their_field() -> None:
    text = json.dumps(add_set(load={"value": 1, "unit": "kg"})).replace(
        '"value": 1', '"value": 1e999'
    )
    assert refused_at(text.encode()) == ["set.load.value"]


@pytest.mark.parametrize(
    "bad",
    [
        b"\xed\xa0\x80",  # a UTF-8-encoded high surrogate (CESU-8 style)
        b"\xed\xbf\xbf",  # a low surrogate
        b"\xed\xa0\xbd\xed\xb2\xaa",  # a surrogate pair encoded apart (not UTF-8's 4 bytes)
        b"\xff",
        b"\xc0\xaf",  # overlong
        b"\xe2\x82",  # truncated
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    ],
)
@pytest.mark.parametrize("where", ["notes", "tenantId", "key"])
def test_anything_that_is_not_utf8_is_not_json(bad: bytes, where: str) -> None:
    command = add_set(reps=1, notes="QQ") if where == "notes" else add_set(reps=1)
    if where == "tenantId":
        command["tenantId"] = "QQ"
    value = json.dumps(command).encode()
    value = value.replace(b'"reps"', b'"QQ": 1, "reps"') if where == "key" else value
    outcome = parse_command(value.replace(b"QQ", bad, 1))
    assert isinstance(outcome, DeadLetter), outcome
    assert outcome.code == DeadLetterCode.NOT_JSON


def test_an_escaped_lone_surrogate_is_json_and_echoed_escaped() -> None:
    value = json.dumps(body("program.create", name="\ud800")).encode()
    assert b"\\ud800" in value
    outcome = parse_command(value)
    assert isinstance(outcome, Parsed | Refused)  # valid JSON text: never a dead letter


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (body("program.create", name="x" * 201), "name"),
        (body("program.update", name=""), "name"),
        (body("session.add", sessionId=str(uuid.uuid4()), name="é" * 201), "name"),
        (
            body(
                "exercise.add",
                sessionId=str(uuid.uuid4()),
                programExerciseId=str(uuid.uuid4()),
                exerciseId=str(uuid.uuid4()),
                name="💪" * 201,
            ),
            "name",
        ),
        (
            body(
                "session.copy",
                sessionId=str(uuid.uuid4()),
                newSessionId=str(uuid.uuid4()),
                name="n" * 201,
            ),
            "name",
        ),
        (body("program.copy", newProgramId=str(uuid.uuid4()), name="n" * 201), "name"),
    ],
)
def test_every_name_is_1_to_200_characters(command: dict[str, Any], path: str) -> None:
    assert refused_at(json.dumps(command).encode()) == [path]
    command["name"] = "n" * 200
    assert isinstance(parse_command(json.dumps(command).encode()), Parsed)


def test_names_in_an_import_snapshot_are_1_to_200_characters() -> None:
    exercise = {
        "programExerciseId": str(uuid.uuid4()),
        "exerciseId": str(uuid.uuid4()),
        "name": "e" * 201,
        "prescriptions": [],
    }
    session = {
        "sessionId": str(uuid.uuid4()),
        "name": "s" * 201,
        "groups": [{"groupId": str(uuid.uuid4()), "exercises": [exercise]}],
    }
    command = body("program.import", program={"name": "p", "weeks": 1, "sessions": [session]})
    assert refused_at(json.dumps(command).encode()) == [
        "program.sessions[0].name",
        "program.sessions[0].groups[0].exercises[0].name",
    ]


def test_duplicate_keys_take_the_last_value_as_javascript_does() -> None:
    text = json.dumps(body("program.create", name="first"))[:-1] + ', "name": "last"}'
    outcome = parse_command(text.encode())
    assert isinstance(outcome, Parsed)
    assert outcome.command.name == "last"  # type: ignore[union-attr]
    assert json.loads(text)["name"] == "last"  # what Python's (and JSON.parse's) reading says


@pytest.mark.parametrize(
    ("name", "legal"),
    [
        (".", False),
        ("..", False),
        ("...", True),
        ("a", True),
        ("", False),
        ("x" * 249, True),
        ("x" * 250, False),
        ("a b", False),
        ("a\n", False),
        ("é", False),
        ("a..b", True),
    ],
)
def test_the_published_topic_name_pattern_is_kafkas(name: str, legal: bool) -> None:
    assert (re.fullmatch(TOPIC_NAME_PATTERN, name) is not None) is legal
