"""Writes the published JSON Schemas (`contracts/schemas/*.schema.json`) from the models.

`python -m contracts.generate` rewrites them; `--check` only compares and exits 1 naming each
file that differs, so a test (and `make test`) fails when a model changed without its schema.
Commands are described as they are *validated* (what a producer may send); results and events
as they are *serialised* (what a consumer receives: null fields of a set are left out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from contracts.commands import Command
from contracts.events import PrescriptionUpdated, SessionUpdated
from contracts.results import CommandResult

SCHEMAS = Path(__file__).resolve().parent / "schemas"
BASE_ID = "https://schemas.program-builder.dev/v1/"

_Mode = Literal["validation", "serialization"]
ARTIFACTS: dict[str, tuple[Any, str, _Mode, str]] = {
    "command.schema.json": (
        Command,
        "Command",
        "validation",
        "A command on `<prefix>.commands`, keyed by programId; `type` selects the variant.",
    ),
    "command-result.schema.json": (
        CommandResult,
        "CommandResult",
        "serialization",
        "The result of a command on `<prefix>.command-results`, keyed by commandId.",
    ),
    "prescription-updated.schema.json": (
        PrescriptionUpdated,
        "PrescriptionUpdated",
        "serialization",
        "A prescription snapshot on `<prefix>.prescription-updated`, keyed by prescriptionId.",
    ),
    "session-updated.schema.json": (
        SessionUpdated,
        "SessionUpdated",
        "serialization",
        "A session structure snapshot on `<prefix>.session-updated`, keyed by sessionId.",
    ),
}


def render(file_name: str) -> str:
    model, title, mode, description = ARTIFACTS[file_name]
    schema: dict[str, Any] = TypeAdapter(model).json_schema(by_alias=True, mode=mode)
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + file_name,
        **schema,
        "title": title,
        "description": description,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(directory: Path = SCHEMAS) -> list[str]:
    """The schema files that are missing or differ from what the models generate."""
    return [
        name
        for name in ARTIFACTS
        if not (directory / name).exists() or (directory / name).read_text() != render(name)
    ]


def write(directory: Path = SCHEMAS) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        (directory / name).write_text(render(name))
    return list(ARTIFACTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        drifted = stale()
        for name in drifted:
            print(f"contracts/schemas/{name} is stale: run `make schemas`", file=sys.stderr)
        return 1 if drifted else 0
    for name in write():
        print(f"wrote contracts/schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
