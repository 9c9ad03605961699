"""The service process made to SIGKILL itself at one exact moment, for the reliability tests.

`python -m tests.support.crash_points <point> <program-builder arguments>` runs the service as
`program-builder` does, with `<point>` armed: the first time the process reaches it, it kills
itself. The service holds no crash point of its own; the point is a wrapper put around one of its
steps here. Points:
- `after_commit`: a batch's transaction committed, nothing of it published yet (the wrapper runs
  before `OutboxRelay.publish_committed`, which publishes a committed batch's rows).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from service.process.cli import main
from service.publish.relay import OutboxRelay

POINTS = ("after_commit",)


def _kill_myself() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    """Kill the process the first time it reaches `point`."""
    if point not in POINTS:
        raise SystemExit(f"unknown crash point {point!r}: one of {', '.join(POINTS)}")
    publish = OutboxRelay.publish_committed

    @functools.wraps(publish)
    async def killed_before_publishing(
        self: OutboxRelay, connection: Any, claim: Any, at: float
    ) -> None:
        if claim.messages:
            _kill_myself()
        await publish(self, connection, claim, at)

    OutboxRelay.publish_committed = killed_before_publishing  # type: ignore[method-assign]


if __name__ == "__main__":
    arm(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
