"""The AsyncAPI 3.0 document of the contract, built from `contracts` alone (models, topics,
headers, examples), independent of the service's FastStream app.

It describes the Program Builder application: it receives commands (answering on a `reply-to`
topic when asked) and sends results, events and dead letters. Payload schemas are the published
JSON Schemas (`contracts.json_schemas`), under `components.schemas`; each message carries its
header schema, its Kafka key and the examples of `contracts/examples.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.commands import MAX_COMMAND_BYTES
from contracts.dlq import HEADER_CORRELATION_ID, HEADER_REPLY_TO
from contracts.headers import COMMAND_HEADERS, DEAD_LETTER_HEADERS, EVENT_HEADERS, RESULT_HEADERS
from contracts.json_schemas import ARTIFACTS, Artifact, model_schema
from contracts.topics import DEFAULT_PREFIX, Topics

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.2.0"
KAFKA_BINDINGS_VERSION = "0.5.0"
EXAMPLES = Path(__file__).resolve().parent / "examples.json"

_UUID_KEY = {"type": "string", "format": "uuid"}
_TOPICS = Topics(DEFAULT_PREFIX)


def _components_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


class _Schemas:
    """`components.schemas`: every artifact's definitions in one namespace. A definition that
    two artifacts describe differently (the set: nullable fields on input, null fields left out
    on output) keeps its name for commands and takes pydantic's `Output` suffix for the
    published one."""

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}

    def add(self, artifact: Artifact) -> dict[str, str]:
        schema = model_schema(artifact.model, artifact.mode)
        local: dict[str, Any] = schema.pop("$defs", {})
        renames = {
            name: f"{name}Output"
            for name, definition in local.items()
            if name in self.definitions and self.definitions[name] != _rebased(definition, {})
        }
        for name, definition in local.items():
            self.definitions[renames.get(name, name)] = _rebased(definition, renames)
        self.definitions[artifact.title] = {
            **_rebased(schema, renames),
            "title": artifact.title,
            "description": artifact.description,
        }
        return _components_ref(artifact.title)


def _with_type_hints(definitions: dict[str, Any]) -> dict[str, Any]:
    """`x-discriminator` on every `oneOf` whose branches differ by a `type` const: the OpenAPI
    hint (property and mapping) for tools that use one, as an extension the AsyncAPI schema
    allows. (The JSON Schema files carry no such keyword: ajv refuses unknown keywords.)"""

    def tag(reference: Any) -> Any:
        if not isinstance(reference, dict) or set(reference) != {"$ref"}:
            return None
        target = definitions.get(reference["$ref"].rsplit("/", 1)[-1], {})
        return target.get("properties", {}).get("type", {}).get("const")

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        visited = {key: visit(value) for key, value in node.items()}
        branches = node.get("oneOf")
        if not isinstance(branches, list):
            return visited
        tags = [tag(branch) for branch in branches]
        if tags and all(isinstance(t, str) for t in tags):
            visited["x-discriminator"] = {
                "propertyName": "type",
                "mapping": {t: b["$ref"] for t, b in zip(tags, branches, strict=True)},
            }
        return visited

    return {name: visit(definition) for name, definition in definitions.items()}


def _rebased(value: Any, renames: dict[str, str]) -> Any:
    """`value` with `#/$defs/X` references pointing into `#/components/schemas` (renamed)."""
    if isinstance(value, dict):
        return {
            key: (
                _component(item, renames)
                if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/")
                else _rebased(item, renames)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rebased(item, renames) for item in value]
    return value


def _component(reference: str, renames: dict[str, str]) -> str:
    name = reference.removeprefix("#/$defs/")
    return f"#/components/schemas/{renames.get(name, name)}"


def _channel(address: str, title: str, description: str, message: str) -> dict[str, Any]:
    return {
        "address": address,
        "title": title,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDINGS_VERSION}},
    }


def _message(
    name: str,
    *,
    title: str,
    summary: str,
    payload: dict[str, Any],
    headers: dict[str, Any],
    key: dict[str, Any],
    examples: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "headers": headers,
        "payload": payload,
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDINGS_VERSION}},
        "examples": examples,
        **extra,
    }


def _example(name: str, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    example: dict[str, Any] = {"name": _example_name(name), "payload": payload}
    if headers:
        example["headers"] = headers
    return example


def _example_name(text: str) -> str:
    """AsyncAPI example names are identifiers: `program.import (v1)` -> `program-import-v1`."""
    kept = "".join(c if c.isalnum() else "-" for c in text)
    return "-".join(part for part in kept.split("-") if part)


def build() -> dict[str, Any]:
    examples: dict[str, dict[str, Any]] = json.loads(EXAMPLES.read_text())
    schemas = _Schemas()
    payloads = {artifact.title: schemas.add(artifact) for artifact in ARTIFACTS.values()}
    events = examples["events"]
    correlation = {"location": f"$message.header#/{HEADER_CORRELATION_ID}"}

    command_examples = [_example(name, command) for name, command in examples["commands"].items()]
    command_examples[0]["headers"] = {
        HEADER_REPLY_TO: "coach-app.replies",
        HEADER_CORRELATION_ID: "req-42",
    }

    def events_of(event_type: str) -> list[dict[str, Any]]:
        return [_example(name, e) for name, e in events.items() if e["type"] == event_type]

    def event_message(name: str, title: str, summary: str, key: str, event_type: str) -> Any:
        return _message(
            name,
            title=title,
            summary=summary,
            payload=payloads[name],
            headers=EVENT_HEADERS,
            key={**_UUID_KEY, "description": key},
            examples=events_of(event_type),
        )

    messages = {
        "Command": _message(
            "Command",
            title="Command",
            summary="A command to change a program; `type` selects the variant, one result "
            "answers it.",
            payload=payloads["Command"],
            headers=COMMAND_HEADERS,
            key={**_UUID_KEY, "description": "programId (orders all commands of one program)"},
            examples=command_examples,
            description=f"At most {MAX_COMMAND_BYTES // 1024} KiB. Unknown fields are "
            "`validation_failed`. Commands of one program are applied in the order of their "
            "partition, so key them by `programId`. See CONTRACT.md for each type's effect.",
            correlationId=correlation,
        ),
        "CommandResult": _message(
            "CommandResult",
            title="Command result",
            summary="Exactly one outcome per distinct commandId (`applied`, `rejected`, "
            "`duplicate`).",
            payload=payloads["CommandResult"],
            headers=RESULT_HEADERS,
            key={**_UUID_KEY, "description": "commandId"},
            examples=[
                _example(name, result, {HEADER_CORRELATION_ID: "req-42"} if n == 0 else None)
                for n, (name, result) in enumerate(examples["results"].items())
            ],
            correlationId=correlation,
        ),
        "PrescriptionUpdated": event_message(
            "PrescriptionUpdated",
            "Prescription updated",
            "The full current state of one prescription (one week of one program exercise).",
            "prescriptionId",
            "prescription.updated",
        ),
        "SessionUpdated": event_message(
            "SessionUpdated",
            "Session updated",
            "The full current structure of one session: its groups and their exercises.",
            "sessionId",
            "session.updated",
        ),
        "ProgramUpdated": event_message(
            "ProgramUpdated",
            "Program updated",
            "The full current state of one program: name, weeks, week labels, session order.",
            "programId",
            "program.updated",
        ),
        "DeadLetter": {
            "name": "DeadLetter",
            "title": "Dead letter",
            "summary": "A message on the commands topic that cannot have a result, unchanged.",
            "description": "The original key, value and headers, byte for byte, plus the "
            "`x-error-*` and `x-original-*` headers. Nothing else is dropped.",
            "contentType": "application/octet-stream",
            "headers": DEAD_LETTER_HEADERS,
            "payload": {
                "description": "The original message value, byte for byte: whatever was "
                "published to the commands topic (often not JSON at all).",
            },
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The original key, unchanged."},
                    "bindingVersion": KAFKA_BINDINGS_VERSION,
                }
            },
            "examples": [
                {
                    "name": "not-json",
                    "headers": {
                        "x-error-code": "not_json",
                        "x-error-message": "the message is not UTF-8 JSON: Expecting value: "
                        "line 1 column 1 (char 0)",
                        "x-original-topic": _TOPICS.commands,
                        "x-original-partition": "2",
                        "x-original-offset": "1841",
                    },
                    "payload": "not json",
                }
            ],
        },
    }

    prefix_note = (
        f"`{DEFAULT_PREFIX}` is the default prefix; `TOPIC_PREFIX` changes it for all topics."
    )
    channels = {
        "commands": _channel(
            _TOPICS.commands,
            "Commands",
            f"Commands from other services, keyed by `programId`. {prefix_note}",
            "Command",
        ),
        "commandResults": _channel(
            _TOPICS.command_results,
            "Command results",
            "One result per distinct `commandId`, keyed by `commandId`; at least once (a "
            "redelivered result is identical).",
            "CommandResult",
        ),
        "replies": {
            "address": None,
            "title": "Replies",
            "description": "The topic a command named in its `reply-to` header: the command's "
            "result is also published there, with the command's `correlation_id` header.",
            "messages": {"CommandResult": {"$ref": "#/components/messages/CommandResult"}},
        },
        "prescriptionUpdated": _channel(
            _TOPICS.prescription_updated,
            "Prescription updated",
            "One event per prescription a command changed (series, group, kind or position), "
            "keyed by `prescriptionId`; the latest event per key is the prescription's state, "
            "so the topic can be compacted. After a `deleted: true` event comes a tombstone: "
            "the same key with a null value, so consumers must accept a null value. (v1.2) "
            "Every set carries `resolvedLoad`: its `percent1rm` load resolved for the "
            "program's athlete, or null; a change of the athlete, a max or the exercise "
            "re-announces every prescription whose resolved loads changed.",
            "PrescriptionUpdated",
        ),
        "sessionUpdated": _channel(
            _TOPICS.session_updated,
            "Session updated",
            "One event per session a command created, deleted, renamed, moved or whose groups "
            "it changed, keyed by `sessionId`; the latest event per key is the session's state. "
            "After a `deleted: true` event comes a tombstone (same key, null value).",
            "SessionUpdated",
        ),
        "programUpdated": _channel(
            _TOPICS.program_updated,
            "Program updated (v1.1)",
            "One event per command that created, copied, imported, renamed, resized, "
            "relabelled or deleted the program, or added, removed or reordered its sessions; "
            "also for every program on `program.republish`; keyed by `programId`, the latest "
            "event per key is the program's state. After a `deleted: true` event comes a "
            "tombstone (same key, null value). Added in contract v1.1. (v1.2) Also on "
            "`program.assign`, `program.unassign` and `maxes.set`; carries `athlete` (null for "
            "a template).",
            "ProgramUpdated",
        ),
        "deadLetters": _channel(
            _TOPICS.dead_letters,
            "Dead letters",
            "Messages of the commands topic that cannot have a result (too large, not JSON, "
            "not an object, no valid `commandId`), unchanged, with the reason in headers.",
            "DeadLetter",
        ),
    }

    def sends(channel: str, message: str, summary: str) -> dict[str, Any]:
        return {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }

    operations = {
        "receiveCommand": {
            "action": "receive",
            "channel": {"$ref": "#/channels/commands"},
            "summary": "Apply a command atomically; answer with its result.",
            "description": "Each command is applied in one PostgreSQL transaction with its "
            "inbox row and outgoing messages; a redelivered `commandId` is answered "
            "`duplicate`. The result goes to the results topic and, when the command has a "
            "`reply-to` header, to that topic too.",
            "messages": [{"$ref": "#/channels/commands/messages/Command"}],
            "bindings": {
                "kafka": {
                    "groupId": {
                        "type": "string",
                        "description": "`CONSUMER_GROUP` (default `program-builder`).",
                    },
                    "bindingVersion": KAFKA_BINDINGS_VERSION,
                }
            },
            "reply": {
                "address": {
                    "location": f"$message.header#/{HEADER_REPLY_TO}",
                    "description": "The topic named by the command's `reply-to` header.",
                },
                "channel": {"$ref": "#/channels/replies"},
                "messages": [{"$ref": "#/channels/replies/messages/CommandResult"}],
            },
        },
        "sendCommandResult": sends(
            "commandResults", "CommandResult", "Publish the outcome of each command."
        ),
        "sendPrescriptionUpdated": sends(
            "prescriptionUpdated",
            "PrescriptionUpdated",
            "Publish the new state of each prescription a command changed.",
        ),
        "sendSessionUpdated": sends(
            "sessionUpdated",
            "SessionUpdated",
            "Publish the new structure of each session a command changed.",
        ),
        "sendProgramUpdated": sends(
            "programUpdated",
            "ProgramUpdated",
            "Publish the new state of each program a command changed (v1.1).",
        ),
        "sendDeadLetter": sends(
            "deadLetters", "DeadLetter", "Set aside a message that cannot have a result."
        ),
    }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:program-builder:contract",
        "info": {
            "title": "Program Builder",
            "version": CONTRACT_VERSION,
            "description": "Applies training-program commands atomically in PostgreSQL and "
            "publishes the results and full snapshots of the prescriptions, sessions and "
            "programs they changed. JSON is UTF-8 with camelCase fields; ids are UUID strings "
            "chosen by the producer of the command; timestamps are RFC 3339 UTC. The wire "
            "contract in prose is CONTRACT.md; the JSON Schemas of the payloads are published "
            "next to this document. Consumers ignore fields they do not know: the schemas of "
            "results and events allow additional properties (v1.2); command schemas are closed.",
            "license": {"name": "Proprietary"},
            "tags": [{"name": "kafka"}, {"name": "training-programs"}],
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrapServers}",
                "protocol": "kafka",
                "description": "The Kafka cluster of the deployment.",
                "variables": {
                    "bootstrapServers": {
                        "default": "127.0.0.1:9092",
                        "description": "`KAFKA_BOOTSTRAP_SERVERS` of the service.",
                    }
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _with_type_hints(schemas.definitions),
            "messages": messages,
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
