"""Writes the published contract files in `contracts/schemas/` from the models: one JSON Schema
per message (`*.schema.json`, see `contracts.json_schemas`) and the AsyncAPI document
(`asyncapi.json`, see `contracts.asyncapi`).

`python -m contracts.generate` rewrites them; `--check` only compares and exits 1 naming each
file that differs, so a test (and `make test`) fails when a model changed without its files.
(`make schemas` also regenerates the TypeScript types from these files, with node.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from contracts import asyncapi, json_schemas

SCHEMAS = Path(__file__).resolve().parent / "schemas"
ASYNCAPI_FILE = "asyncapi.json"


def _schema_file(name: str) -> str:
    document = json_schemas.document(name)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


FILES: dict[str, Callable[[], str]] = {
    **{name: partial(_schema_file, name) for name in json_schemas.ARTIFACTS},
    ASYNCAPI_FILE: asyncapi.render,
}


def render(file_name: str) -> str:
    return FILES[file_name]()


def stale(directory: Path = SCHEMAS) -> list[str]:
    """The files that are missing or differ from what the models generate."""
    return [
        name
        for name in FILES
        if not (directory / name).exists() or (directory / name).read_text() != render(name)
    ]


def write(directory: Path = SCHEMAS) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (directory / name).write_text(render(name))
    return list(FILES)


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
