"""Kafka headers of the contract, per kind of message, as JSON Schemas (values are UTF-8 text).

The AsyncAPI document attaches these to its messages; the names are the ones in `contracts.dlq`
(which the service reads and writes) plus the W3C trace context headers.
"""

from __future__ import annotations

from typing import Any

from contracts.dlq import (
    HEADER_CORRELATION_ID,
    HEADER_ERROR_CODE,
    HEADER_ERROR_MESSAGE,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    HEADER_REPLY_TO,
    DeadLetterCode,
)

HEADER_TRACEPARENT = "traceparent"
HEADER_TRACESTATE = "tracestate"

TOPIC_NAME_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,249}$"
"""A legal Kafka topic name: 1..249 of `a-zA-Z0-9._-`, and not `.` or `..`."""
PROCESSING_FAILED = "processing_failed"
"""The dead-letter code of a message that failed for a reason outside the contract (a bug):
it goes to the DLQ instead of blocking its partition (README, "Contract notes")."""

_TRACEPARENT_PATTERN = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

_TRACE_IN: dict[str, Any] = {
    HEADER_TRACEPARENT: {
        "type": "string",
        "description": "W3C trace context (`00-<trace id>-<span id>-<flags>`): the command's "
        "result and events carry it on.",
        "pattern": _TRACEPARENT_PATTERN,
        "examples": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    },
    HEADER_TRACESTATE: {
        "type": "string",
        "description": "W3C trace state, carried on with `traceparent`.",
    },
}

_TRACE_OUT: dict[str, Any] = {
    HEADER_TRACEPARENT: {
        "type": "string",
        "description": "The trace context of the command this message answers: the command's "
        "own `traceparent` as it came, or, when the service exports traces, the service's span "
        "of that command (then it follows the W3C format).",
    },
    HEADER_TRACESTATE: {
        "type": "string",
        "description": "The command's `tracestate`, as it came (or the service span's).",
    },
}

_CORRELATION_ID: dict[str, Any] = {
    "type": "string",
    "description": "Any text the requester chooses; the command's value is copied unchanged "
    "onto its result (on the results topic and on the `reply-to` topic).",
    "examples": ["req-42"],
}


def _headers(description: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        **extra,
    }


COMMAND_HEADERS = _headers(
    "Optional headers a producer may set on a command.",
    {
        HEADER_REPLY_TO: {
            "type": "string",
            "description": "A topic on which the command's result is also published (with the "
            "command's `correlation_id`), besides `<prefix>.command-results`. Ignored when it "
            "is not a legal topic name or is one of the service's own topics. A reply topic "
            "that cannot be written never delays any other command, result or event: a copy "
            "the broker does not acknowledge within the service's bound is dropped.",
            "pattern": TOPIC_NAME_PATTERN,
            "examples": ["coach-app.replies"],
        },
        HEADER_CORRELATION_ID: _CORRELATION_ID,
        **_TRACE_IN,
    },
)

RESULT_HEADERS = _headers(
    "`correlation_id` when the command carried one; the trace context when it carried one "
    "(or the service traces).",
    {HEADER_CORRELATION_ID: _CORRELATION_ID, **_TRACE_OUT},
)

EVENT_HEADERS = _headers(
    "The trace context of the command that caused the event, when there is one.",
    dict(_TRACE_OUT),
)

DEAD_LETTER_CODES = [*(code.value for code in DeadLetterCode), PROCESSING_FAILED]

DEAD_LETTER_HEADERS = _headers(
    "Why the message could not have a result, and where it came from. Every header of the "
    "original message is kept as well, byte for byte.",
    {
        HEADER_ERROR_CODE: {
            "type": "string",
            "enum": DEAD_LETTER_CODES,
            "description": "`too_large`: over 256 KiB; `not_json`: not UTF-8 JSON (or no "
            "value); `not_an_object`: JSON but not an object; `no_command_id`: no `commandId` "
            "that is a UUID string; `processing_failed`: a failure outside the contract (a bug "
            "of the service), kept here rather than blocking the partition.",
        },
        HEADER_ERROR_MESSAGE: {
            "type": "string",
            "description": "A sentence for a person: what is wrong with the message.",
        },
        HEADER_ORIGINAL_TOPIC: {
            "type": "string",
            "description": "The topic the message was consumed from.",
        },
        HEADER_ORIGINAL_PARTITION: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Its partition, as decimal digits.",
        },
        HEADER_ORIGINAL_OFFSET: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Its offset in that partition, as decimal digits.",
        },
    },
    required=[
        HEADER_ERROR_CODE,
        HEADER_ERROR_MESSAGE,
        HEADER_ORIGINAL_TOPIC,
        HEADER_ORIGINAL_PARTITION,
        HEADER_ORIGINAL_OFFSET,
    ],
)
