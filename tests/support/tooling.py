"""The outside tools that judge the published contract (node + the npm packages pinned in
`tooling/`, Debian's chromium), found or refused: a missing tool skips a test on a developer's
machine but fails it in CI (`CI` set), where `make test` installs them first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ROOT / "tooling"
SCHEMAS = ROOT / "contracts" / "schemas"
EXAMPLES = ROOT / "contracts" / "examples.json"
CLI = Path(sys.executable).with_name("program-builder")


def missing(what: str) -> None:
    message = f"{what} is missing: run `make tooling` (make test does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def node() -> str:
    path = shutil.which("node")
    if path is None or not (TOOLING / "node_modules" / ".installed").exists():
        missing("node with the npm packages of tooling/")
    assert path is not None
    return path


def run_node(script: str, *args: str | Path, timeout: float = 120) -> tuple[int, Any]:
    """Run a tooling/ script; (exit status, its JSON report on stdout)."""
    done = subprocess.run(
        [node(), str(TOOLING / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{script} printed no report: {done.stdout}\n{done.stderr}") from None


def chromium() -> str:
    configured = os.environ.get("CHROMIUM")
    for candidate in (configured, "chromium", "chromium-browser"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    missing("chromium (Debian package `chromium`)")
    raise AssertionError  # unreachable: missing() fails or skips
