"""Dead-letter headers and reasons: messages that cannot have a result (CONTRACT.md § "Results")."""

from __future__ import annotations

from enum import StrEnum

HEADER_ERROR_CODE = "x-error-code"
HEADER_ERROR_MESSAGE = "x-error-message"
HEADER_ORIGINAL_TOPIC = "x-original-topic"
HEADER_ORIGINAL_PARTITION = "x-original-partition"
HEADER_ORIGINAL_OFFSET = "x-original-offset"

HEADER_REPLY_TO = "reply-to"
HEADER_CORRELATION_ID = "correlation_id"


class DeadLetterCode(StrEnum):
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    NO_COMMAND_ID = "no_command_id"
