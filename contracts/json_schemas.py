"""The published JSON Schemas (Draft 2020-12) of every command, result and event, from the models.

What other teams' validators accept: ajv 2020 with its default options and in strict mode, and
Python's `jsonschema` with format checks. So the schemas hold only standard keywords: pydantic's
OpenAPI `discriminator` becomes nothing (a union of commands is a `oneOf` whose branches differ
by a `const` `type`; the Python models keep their fast tagged union), and no property carries
pydantic's generated title ("Commandid"), which code generators would turn into type names.

Commands are described as they are *validated* (what a producer may send); results and events
as they are *serialised* (what a consumer receives: a set leaves out its null fields).

Command schemas are closed (`additionalProperties: false`: an unknown field is
`validation_failed`). Result and event schemas are open (v1.2): a consumer validating with
today's schema keeps working when a later version adds a field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from contracts.commands import Command
from contracts.events import PrescriptionUpdated, ProgramUpdated, SessionUpdated
from contracts.results import CommandResult
from contracts.series import PublishedSet

BASE_ID = "https://schemas.program-builder.dev/v1/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

Mode = Literal["validation", "serialization"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """One published schema file."""

    model: Any
    title: str
    mode: Mode
    description: str


ARTIFACTS: dict[str, Artifact] = {
    "command.schema.json": Artifact(
        Command,
        "Command",
        "validation",
        "A command on `<prefix>.commands`, keyed by programId; `type` selects the variant.",
    ),
    "command-result.schema.json": Artifact(
        CommandResult,
        "CommandResult",
        "serialization",
        "The result of a command on `<prefix>.command-results`, keyed by commandId.",
    ),
    "prescription-updated.schema.json": Artifact(
        PrescriptionUpdated,
        "PrescriptionUpdated",
        "serialization",
        "A prescription snapshot on `<prefix>.prescription-updated`, keyed by prescriptionId.",
    ),
    "session-updated.schema.json": Artifact(
        SessionUpdated,
        "SessionUpdated",
        "serialization",
        "A session structure snapshot on `<prefix>.session-updated`, keyed by sessionId.",
    ),
    "program-updated.schema.json": Artifact(
        ProgramUpdated,
        "ProgramUpdated",
        "serialization",
        "A program snapshot on `<prefix>.program-updated` (v1.1), keyed by programId.",
    ),
}

OUTPUT_SET = PublishedSet.__name__
OUTPUT_SET_ALWAYS_PRESENT = ("orderIndex", "setType", "resolvedLoad")
"""A published set always has its position (the service assigns it), its type (default
`working`) and (v1.2) its `resolvedLoad` (null unless resolved); every other field is present
only when it is not null."""
OUTPUT_SET_NULLABLE = frozenset({"resolvedLoad"})


class StandardJsonSchema(GenerateJsonSchema):
    """Pydantic's generator without the two non-standard habits (see the module docstring)."""

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        generated = super().tagged_union_schema(schema)
        generated.pop("discriminator", None)
        return generated

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def model_schema(model: Any, mode: Mode, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The model's schema, its definitions under `$defs` (refs as `ref_template` says)."""
    schema: dict[str, Any] = TypeAdapter(model).json_schema(
        by_alias=True, mode=mode, schema_generator=StandardJsonSchema, ref_template=ref_template
    )
    if mode == "serialization" and OUTPUT_SET in schema.get("$defs", {}):
        definitions, published_set = _published_set(ref_template)
        schema["$defs"] = {**definitions, **schema["$defs"], OUTPUT_SET: published_set}
    if mode == "serialization":
        schema = _opened(schema)
    return schema


def _opened(node: Any) -> Any:
    """The schema with every `additionalProperties: false` removed: what a consumer receives may
    carry fields a later version adds."""
    if isinstance(node, list):
        return [_opened(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _opened(value)
        for key, value in node.items()
        if not (key == "additionalProperties" and value is False)
    }


def _published_set(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A set as events carry it. Its model serialises through a function that drops nulls, so
    pydantic can only say "an object"; this states the fields: the validation schema without
    the null alternatives and defaults."""
    schema = model_schema(PublishedSet, "validation", ref_template)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    properties: dict[str, Any] = {}
    for name, given in schema["properties"].items():
        published = {key: value for key, value in given.items() if key != "default"}
        if name in OUTPUT_SET_NULLABLE:
            properties[name] = published
            continue
        options = [o for o in published.pop("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:
            published = {**options[0], **published}
        elif options:
            published["anyOf"] = options
        properties[name] = published
    schema["properties"] = properties
    schema["required"] = list(OUTPUT_SET_ALWAYS_PRESENT)
    return definitions, schema


def document(file_name: str) -> dict[str, Any]:
    """The complete schema file: dialect, `$id`, title and description around the model."""
    artifact = ARTIFACTS[file_name]
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + file_name,
        **model_schema(artifact.model, artifact.mode),
        "title": artifact.title,
        "description": artifact.description,
    }
