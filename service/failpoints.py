"""Crash points for the reliability tests, which must kill the process at an exact moment.

`PROGRAM_BUILDER_CRASH_AT=<point>` makes the process SIGKILL itself the first time it reaches
`<point>`; unset (always, outside those tests) a point costs one comparison. Points:
`after_commit` — a batch transaction committed, nothing of it published yet.
"""

from __future__ import annotations

import os
import signal

_CRASH_AT = os.environ.get("PROGRAM_BUILDER_CRASH_AT", "")


def reached(point: str) -> None:
    if point == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
