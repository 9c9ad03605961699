"""The committed AsyncAPI document, judged by the official parser (`@asyncapi/parser`: what
AsyncAPI Studio, the CLI and the code generators run): no error, no warning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.tooling import SCHEMAS, run_node

ACCEPTED_NOTICES = {
    # An "information": 3.1.0 exists. The document stays 3.0.0 on purpose: the version the
    # platform's tools (Studio, generators, the renderer shipped with the page) all read.
    "asyncapi-latest-version",
}
COMMITTED = SCHEMAS / "asyncapi.json"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The parser's diagnostics of the committed document and of a negative control: the
    document with pydantic's OpenAPI discriminator object back in it, as it used to be (one
    parser run for both: loading the parser is most of the time)."""
    document = json.loads(COMMITTED.read_text())
    document["components"]["schemas"]["Command"]["discriminator"] = {"propertyName": "type"}
    broken = tmp_path_factory.mktemp("asyncapi") / "with-discriminator.json"
    broken.write_text(json.dumps(document))
    _, report = run_node("check-asyncapi.mjs", COMMITTED, broken)
    return {"committed": report[str(COMMITTED)], "broken": report[str(broken)]}


def test_the_parser_finds_no_error_and_no_warning(
    reports: dict[str, list[dict[str, Any]]],
) -> None:
    report = reports["committed"]
    problems = [d for d in report if d["severity"] in ("error", "warning")]
    assert problems == [], json.dumps(problems, indent=2)
    assert {d["code"] for d in report} <= ACCEPTED_NOTICES, report


def test_the_check_fails_on_what_the_parser_refuses(
    reports: dict[str, list[dict[str, Any]]],
) -> None:
    assert any(
        d["severity"] == "error" and d["path"].endswith("Command/discriminator")
        for d in reports["broken"]
    ), reports["broken"]
