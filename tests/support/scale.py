"""The size of the long runs: `RELIABILITY_SCALE` multiplies it (`RELIABILITY_SCALE=10 make test`
for a night run)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("RELIABILITY_SCALE", "1"))


def scaled(count: int) -> int:
    """`count` times the scale, at least 1."""
    return max(1, int(count * SCALE))
