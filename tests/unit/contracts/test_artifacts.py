"""The published artifacts: JSON Schemas current with the models, and the examples file valid."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from contracts import generate
from contracts.commands import COMMAND_TYPES, Command
from contracts.events import PrescriptionUpdated, ProgramUpdated, SessionUpdated
from contracts.parsing import Parsed, parse_command
from contracts.results import CommandResult
from contracts.snapshots import OUTPUT_ONLY_FIELDS

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(generate.__file__).parent / "examples.json").read_text()
)
COMMANDS = TypeAdapter(Command)
ROOT = Path(generate.__file__).parents[1]


def test_committed_schemas_are_current() -> None:
    assert generate.stale() == [], "contracts/schemas is stale: run `make schemas`"


def test_check_names_a_drifted_schema(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    target = tmp_path / "command-result.schema.json"
    target.write_text(target.read_text().replace('"applied"', '"done"'))
    assert generate.stale(tmp_path) == ["command-result.schema.json"]


def test_command_schema_lists_every_type() -> None:
    schema = json.loads(generate.render("command.schema.json"))
    branches = [ref["$ref"].rsplit("/", 1)[-1] for ref in schema["oneOf"]]
    types = {schema["$defs"][name]["properties"]["type"]["const"] for name in branches}
    assert types == COMMAND_TYPES
    assert schema["$id"].endswith("/command.schema.json")


def test_schemas_hold_only_standard_keywords() -> None:
    """No OpenAPI `discriminator` (ajv refuses it) and no generated property titles."""
    for name in generate.FILES:
        if name.endswith(".schema.json"):
            text = generate.render(name)
            assert '"discriminator"' not in text, name
            assert not re.search(r'"title": "[A-Z][a-z]+id"', text), name


def test_every_command_type_has_an_example() -> None:
    types = {example["type"] for example in EXAMPLES["commands"].values()}
    assert types == COMMAND_TYPES


@pytest.mark.parametrize("name", sorted(EXAMPLES["commands"]))
def test_command_example_parses_and_round_trips(name: str) -> None:
    example = EXAMPLES["commands"][name]
    parsed = parse_command(json.dumps(example).encode())
    assert isinstance(parsed, Parsed), parsed
    dumped = json.loads(COMMANDS.dump_json(parsed.command, by_alias=True, exclude_unset=True))
    assert dumped == without_output_only(example)


def without_output_only(document: Any) -> Any:
    """The document without what a `program.import` snapshot accepts and ignores."""
    if isinstance(document, dict):
        return {
            k: without_output_only(v) for k, v in document.items() if k not in OUTPUT_ONLY_FIELDS
        }
    if isinstance(document, list):
        return [without_output_only(item) for item in document]
    return document


@pytest.mark.parametrize("name", sorted(EXAMPLES["results"]))
def test_result_example_round_trips(name: str) -> None:
    example = EXAMPLES["results"][name]
    result = CommandResult.model_validate_json(json.dumps(example))
    assert result.status.value == name.split(" (", maxsplit=1)[0]
    assert json.loads(result.model_dump_json(by_alias=True)) == example


EVENT_MODELS: dict[str, type[PrescriptionUpdated | SessionUpdated | ProgramUpdated]] = {
    "prescription.updated": PrescriptionUpdated,
    "session.updated": SessionUpdated,
    "program.updated": ProgramUpdated,
}


@pytest.mark.parametrize("name", sorted(EXAMPLES["events"]))
def test_event_example_round_trips(name: str) -> None:
    example = EXAMPLES["events"][name]
    event = EVENT_MODELS[example["type"]].model_validate_json(json.dumps(example))
    assert json.loads(event.model_dump_json(by_alias=True)) == example


def test_examples_cover_a_deleted_prescription_and_every_event_type() -> None:
    events = EXAMPLES["events"].values()
    assert {event["type"] for event in events} == set(EVENT_MODELS)
    assert any(event.get("deleted") and event.get("group", "") is None for event in events)


def test_the_readme_shows_commands_exactly_as_the_examples_file() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, re.DOTALL)]
    commands = [b for b in blocks if isinstance(b, dict) and "commandId" in b]
    assert commands, "the README shows at least one command"
    for command in commands:
        assert command in EXAMPLES["commands"].values(), command["type"]
