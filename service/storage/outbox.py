"""The outbox: messages committed with the state that caused them, claimed and marked by the relay.

Per-key order: rows of one key always land on the same lane (crc32(key) mod 16); a relay takes a
lane with a transaction-scoped advisory lock and publishes that lane's rows in id order. Rows of
one program are inserted under its row lock, so their ids follow commit order.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from service.storage.database import Connection

LANES = 16
_LANE_LOCK_SPACE = 0x6F7574  # "out": advisory-lock namespace of the relay lanes

_ADD = """
INSERT INTO outbox (topic, key, value, header_names, header_values, lane)
VALUES ($1, $2, $3, $4, $5, $6)
"""

# Take every free lane that has work, then claim its oldest unsent rows.
_CLAIM = """
WITH lanes AS (
    SELECT lane FROM (SELECT DISTINCT lane FROM outbox WHERE sent_at IS NULL) AS pending
    WHERE pg_try_advisory_xact_lock($1, lane)
)
SELECT id, topic, key, value, header_names, header_values, lane
FROM outbox
WHERE sent_at IS NULL AND lane IN (SELECT lane FROM lanes)
ORDER BY id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
_BACKLOG = """
SELECT count(*) AS pending, EXTRACT(EPOCH FROM now() - min(created_at)) AS oldest_seconds
FROM outbox WHERE sent_at IS NULL
"""
_PRUNE = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1) LIMIT $2
)
"""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    headers: tuple[tuple[str, bytes], ...] = ()

    def row(self) -> tuple[object, ...]:
        return (
            self.topic,
            self.key,
            self.value,
            [name for name, _ in self.headers],
            [value for _, value in self.headers],
            lane_of(self.key),
        )


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    lane: int
    message: OutgoingMessage


def lane_of(key: bytes | None) -> int:
    return zlib.crc32(key or b"") % LANES


async def add(connection: Connection, messages: Sequence[OutgoingMessage]) -> None:
    if messages:
        # executemany pipelines the rows in one round trip (COPY takes two).
        await connection.executemany(_ADD, [m.row() for m in messages])


async def claim(connection: Connection, limit: int) -> list[ClaimedMessage]:
    """Within a transaction: lock free lanes and return their oldest unsent rows, in id order."""
    rows = await connection.fetch(_CLAIM, _LANE_LOCK_SPACE, limit)
    return [
        ClaimedMessage(
            row["id"],
            row["lane"],
            OutgoingMessage(
                row["topic"],
                row["key"],
                row["value"],
                tuple(zip(row["header_names"], row["header_values"], strict=True)),
            ),
        )
        for row in rows
    ]


async def mark_sent(connection: Connection, ids: Sequence[int]) -> None:
    if ids:
        await connection.execute(_MARK_SENT, list(ids))


async def backlog(connection: Connection) -> tuple[int, float]:
    row = await connection.fetchrow(_BACKLOG)
    assert row is not None
    return int(row["pending"]), float(row["oldest_seconds"] or 0.0)


async def prune(connection: Connection, older_than_seconds: float, limit: int) -> int:
    status = await connection.execute(_PRUNE, float(older_than_seconds), limit)
    return int(status.split()[-1])
