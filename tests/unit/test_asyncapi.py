"""The committed AsyncAPI document: current, every topic of the contract a channel, every message
with its payload, key and header schemas, and examples that validate against them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts import generate
from contracts.commands import COMMAND_TYPES
from contracts.dlq import HEADER_CORRELATION_ID, HEADER_REPLY_TO
from contracts.topics import Topics
from service.process.asyncapi import DOCUMENT, render

DOCUMENT_JSON: dict[str, Any] = json.loads(render())


def test_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "stale: run `make schemas`"
    assert generate.stale() == [], "contracts/schemas is stale: run `make schemas`"


def test_every_topic_of_the_contract_is_a_channel() -> None:
    addresses = {channel["address"] for channel in DOCUMENT_JSON["channels"].values()}
    assert addresses == {*Topics().all(), None}  # None: the reply-to topic, named per command


@pytest.mark.parametrize(
    ("channel", "payload", "headers"),
    [
        ("commands", "Command", {HEADER_REPLY_TO, HEADER_CORRELATION_ID, "traceparent"}),
        ("commandResults", "CommandResult", {HEADER_CORRELATION_ID, "traceparent"}),
        ("replies", "CommandResult", {HEADER_CORRELATION_ID, "traceparent"}),
        ("prescriptionUpdated", "PrescriptionUpdated", {"traceparent"}),
        ("sessionUpdated", "SessionUpdated", {"traceparent"}),
        ("programUpdated", "ProgramUpdated", {"traceparent"}),
        ("deadLetters", None, {"x-error-code", "x-original-topic", "x-original-offset"}),
    ],
)
def test_every_message_carries_its_payload_and_header_schemas(
    channel: str, payload: str | None, headers: set[str]
) -> None:
    [reference] = DOCUMENT_JSON["channels"][channel]["messages"].values()
    message = _resolve(reference["$ref"])
    if payload is not None:
        assert message["payload"] == {"$ref": f"#/components/schemas/{payload}"}
    assert headers <= set(message["headers"]["properties"])
    assert message["examples"], f"{channel}: a message without an example"


def test_the_reply_to_pattern_is_described() -> None:
    receive = DOCUMENT_JSON["operations"]["receiveCommand"]
    assert receive["action"] == "receive"
    assert receive["reply"]["address"]["location"] == f"$message.header#/{HEADER_REPLY_TO}"
    assert receive["reply"]["channel"] == {"$ref": "#/channels/replies"}
    command = DOCUMENT_JSON["components"]["messages"]["Command"]
    assert command["correlationId"]["location"] == f"$message.header#/{HEADER_CORRELATION_ID}"


def test_every_channel_has_an_operation() -> None:
    used = {op["channel"]["$ref"] for op in DOCUMENT_JSON["operations"].values()}
    used |= {
        op["reply"]["channel"]["$ref"]
        for op in DOCUMENT_JSON["operations"].values()
        if "reply" in op
    }
    assert used == {f"#/channels/{name}" for name in DOCUMENT_JSON["channels"]}


def _message_examples() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, example["name"], example)
        for name, message in DOCUMENT_JSON["components"]["messages"].items()
        for example in message["examples"]
    ]


@pytest.mark.parametrize(
    ("message", "example"),
    [(message, example) for message, _, example in _message_examples()],
    ids=[f"{message}:{name}" for message, name, _ in _message_examples()],
)
def test_examples_validate_against_the_message_schemas(
    message: str, example: dict[str, Any]
) -> None:
    """The AsyncAPI parser does not check examples against schemas; an independent validator
    does, with the document's components as the root that `#/components/...` resolves in."""
    definition = DOCUMENT_JSON["components"]["messages"][message]
    for part in ("payload", "headers"):
        if part in example:
            schema = {"components": DOCUMENT_JSON["components"], **definition[part]}
            validator = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(example[part])]
            assert errors == [], (part, errors)


def _resolve(pointer: str) -> Any:
    node: Any = DOCUMENT_JSON
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_command_union_carries_its_type_hint_as_an_extension() -> None:
    """An OpenAPI-style hint for tools that use one; `x-` because the AsyncAPI schema only
    allows a string `discriminator` with another meaning."""
    command = DOCUMENT_JSON["components"]["schemas"]["Command"]
    assert "discriminator" not in command
    hint = command["x-discriminator"]
    assert hint["propertyName"] == "type"
    assert set(hint["mapping"]) == COMMAND_TYPES
    for command_type, reference in hint["mapping"].items():
        assert _resolve(reference)["properties"]["type"]["const"] == command_type
