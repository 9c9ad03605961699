"""Every committed JSON Schema compiles where other teams validate: ajv (2020-12, with
ajv-formats) with its default options and in strict mode, and Python's `jsonschema` (Draft
2020-12, formats checked); every example validates, and what the contract refuses is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from contracts.json_schemas import ARTIFACTS
from tests.support.tooling import EXAMPLES, SCHEMAS, run_node

EXAMPLE_DATA: dict[str, dict[str, Any]] = json.loads(EXAMPLES.read_text())
EVENT_SCHEMAS = {
    "prescription.updated": "prescription-updated.schema.json",
    "session.updated": "session-updated.schema.json",
    "program.updated": "program-updated.schema.json",
}


def validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / file_name).read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(file_name: str, instance: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(file_name).iter_errors(instance)]


def test_ajv_compiles_every_schema_with_default_options_and_strict() -> None:
    status, report = run_node("check-json-schemas.mjs", SCHEMAS, EXAMPLES)
    compiled = {(c["file"], c["options"]): c["error"] for c in report["compiled"]}
    assert compiled == {
        (name, options): None for name in ARTIFACTS for options in ("default", "strict")
    }
    failed = [example for example in report["examples"] if example["errors"]]
    assert failed == []
    assert len(report["examples"]) == sum(len(part) for part in EXAMPLE_DATA.values())
    assert status == 0


@pytest.mark.parametrize("file_name", sorted(ARTIFACTS))
def test_python_jsonschema_accepts_every_schema(file_name: str) -> None:
    schema = json.loads((SCHEMAS / file_name).read_text())
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:  # pragma: no cover - the message is the point
        pytest.fail(f"{file_name}: {error.message} at {list(error.absolute_path)}")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _examples() -> list[tuple[str, str, Any]]:
    cases = [
        (f"commands/{n}", "command.schema.json", c) for n, c in EXAMPLE_DATA["commands"].items()
    ]
    cases += [
        (f"results/{n}", "command-result.schema.json", r)
        for n, r in EXAMPLE_DATA["results"].items()
    ]
    cases += [
        (f"events/{n}", EVENT_SCHEMAS[e["type"]], e) for n, e in EXAMPLE_DATA["events"].items()
    ]
    return cases


@pytest.mark.parametrize(
    ("file_name", "example"), [c[1:] for c in _examples()], ids=[c[0] for c in _examples()]
)
def test_every_example_validates_in_python_jsonschema(file_name: str, example: Any) -> None:
    assert errors(file_name, example) == []


def test_formats_are_checked() -> None:
    """Without rfc3339-validator installed, jsonschema would let any date-time through."""
    result = {**EXAMPLE_DATA["results"]["applied"], "processedAt": "yesterday"}
    assert any("date-time" in e for e in errors("command-result.schema.json", result))
    command = {**EXAMPLE_DATA["commands"]["program.create"], "programId": "not-a-uuid"}
    assert errors("command.schema.json", command)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "program.destroy"}, "an unknown type matches no branch"),
        ({"colour": "red"}, "unknown fields are refused"),
        ({"weeks": 53}, "a program has at most 52 weeks"),
        ({"tenantId": ""}, "tenantId is 1..100 characters"),
    ],
)
def test_the_command_schema_refuses_what_the_contract_refuses(
    change: dict[str, Any], reason: str
) -> None:
    command = {**EXAMPLE_DATA["commands"]["program.create"], **change}
    assert errors("command.schema.json", command), reason


def test_exactly_one_branch_matches_each_command() -> None:
    """The union is a plain `oneOf` whose branches differ by their `type` const."""
    schema = json.loads((SCHEMAS / "command.schema.json").read_text())
    branches = {
        branch["$ref"]: Draft202012Validator({"$defs": schema["$defs"], "$ref": branch["$ref"]})
        for branch in schema["oneOf"]
    }
    for example in EXAMPLE_DATA["commands"].values():
        matching = [ref for ref, branch in branches.items() if branch.is_valid(example)]
        assert matching == [f"#/$defs/{_variant(example['type'], schema)}"], example["type"]


def _variant(command_type: str, schema: dict[str, Any]) -> str:
    [name] = [
        name
        for name, definition in schema["$defs"].items()
        if definition.get("properties", {}).get("type", {}).get("const") == command_type
        and "commandId" in definition["properties"]
    ]
    return name


def test_set_rules_in_the_schemas() -> None:
    add = EXAMPLE_DATA["commands"]["series.add"]
    assert errors("command.schema.json", {**add, "set": {"reps": 5, "rpe": 8.2}})
    assert errors("command.schema.json", {**add, "set": {"reps": 5, "tempo": "fast"}})
    assert not errors(
        "command.schema.json", {**add, "set": {"reps": 5, "rpe": 8.5, "tempo": "3-1-X-0"}}
    )
    event = EXAMPLE_DATA["events"]["prescription.updated"]
    published = {**event, "series": [{"orderIndex": 0, "setType": "working", "reps": None}]}
    assert errors("prescription-updated.schema.json", published), "a published set omits nulls"


# --- results and events are open, commands closed


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every schema object that describes a JSON object with properties."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for item in node:
            found += _objects(item)
    return found


@pytest.mark.parametrize("file_name", sorted(ARTIFACTS))
def test_published_schemas_are_open_and_command_schemas_closed(file_name: str) -> None:
    schema = json.loads((SCHEMAS / file_name).read_text())
    closed = [o.get("additionalProperties") is False for o in _objects(schema)]
    if file_name == "command.schema.json":
        assert all(closed), "an unknown field in a command is validation_failed"
    else:
        assert not any(closed), "a consumer keeps working when a later version adds a field"


@pytest.mark.parametrize("name", sorted(EXAMPLE_DATA["events"]))
def test_an_event_with_fields_of_a_later_version_still_validates(name: str) -> None:
    event = json.loads(json.dumps(EXAMPLE_DATA["events"][name]))
    event["addedInV9"] = {"anything": [1, 2]}
    if event.get("series"):
        event["series"][0]["laterSetField"] = True
        if event["series"][0].get("load"):
            event["series"][0]["load"]["laterLoadField"] = "x"
    if event.get("athlete"):
        event["athlete"]["laterAthleteField"] = 1
    assert errors(EVENT_SCHEMAS[event["type"]], event) == []
    result = {**EXAMPLE_DATA["results"]["applied"], "laterResultField": 1}
    assert errors("command-result.schema.json", result) == []
