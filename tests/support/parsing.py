"""A command document as the consumer parses it, for the tests of the contract's rules: parsed,
or refused with `validation_failed` at a path (and the reason given there)."""

from __future__ import annotations

import json
from typing import Any

from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.results import ErrorCode


def parse(document: Any) -> Parsed | Refused | DeadLetter:
    return parse_command(json.dumps(document).encode())


def refusal(document: Any, path: str) -> str:
    """The reason given at `path`; the command must be refused as `validation_failed`, its
    message naming that path first when it is the only one."""
    outcome = parse(document)
    assert isinstance(outcome, Refused), outcome
    assert outcome.error.code is ErrorCode.VALIDATION_FAILED
    reasons = {detail.path: detail.reason for detail in outcome.error.details}
    assert path in reasons, reasons
    if len(reasons) == 1:
        assert outcome.error.message.startswith(path), outcome.error.message
    return reasons[path]


def accepted(document: Any) -> Parsed:
    outcome = parse(document)
    assert isinstance(outcome, Parsed), outcome
    return outcome
