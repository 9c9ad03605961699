"""The tools that judge the contract are pinned: exact versions in tooling/package.json, a
lockfile with integrity hashes and no host name (`npm ci` uses whatever registry is set)."""

from __future__ import annotations

import json
import re

from tests.support.tooling import TOOLING

PACKAGE = json.loads((TOOLING / "package.json").read_text())
LOCK_TEXT = (TOOLING / "package-lock.json").read_text()
LOCK = json.loads(LOCK_TEXT)


def test_every_tool_is_pinned_exactly() -> None:
    pins = {
        **PACKAGE["devDependencies"],
        "renderer": PACKAGE["config"]["renderer"].rsplit("@", 1)[1],
    }
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in pins.values()), pins


def test_the_lockfile_matches_package_json_and_names_no_host() -> None:
    root = LOCK["packages"][""]
    assert root["devDependencies"] == PACKAGE["devDependencies"]
    for name, version in PACKAGE["devDependencies"].items():
        assert LOCK["packages"][f"node_modules/{name}"]["version"] == version, name
    assert "://" not in LOCK_TEXT, "a URL in tooling/package-lock.json: run `make tooling-lock`"
    installed = [key for key in LOCK["packages"] if key]
    assert all("integrity" in LOCK["packages"][key] for key in installed)
