"""What the tests assert of a command's result."""

from __future__ import annotations

from typing import Any


def assert_rejected(outcome: dict[str, Any], code: str, path: str) -> dict[str, Any]:
    """`outcome`, a result or its `error`, is a rejection with `code` whose first detail is at
    `path` (the field a producer has to fix); returns the error for further checks."""
    if "status" in outcome:
        assert outcome["status"] == "rejected", outcome
        error: dict[str, Any] = outcome["error"]
    else:
        error = outcome
    assert (error["code"], error["details"][0]["path"] if error["details"] else None) == (
        code,
        path,
    ), error
    return error
