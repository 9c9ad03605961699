"""The outbox: messages committed with the state that caused them, then published and marked.

Per-key order: rows of one key always land on the same lane (crc32(key) mod 16), and a lane's
rows are published in id order by whoever holds the lane's advisory lock. Rows of one program
are inserted under its row lock, so their ids follow commit order. Two holders take lanes:

- the committing process (`claim_lanes`): inside the batch transaction, right after its rows,
  it takes the free lanes they fall in with a *session* lock, which outlives the commit, and
  the unsent rows of those lanes (its own and any older ones); after the commit it publishes
  them, marks them sent and releases the lanes (`mark_sent_and_release`);
- the relay (`claim`), a sweeper for the rest: rows whose lanes were held at commit, rows of a
  process that crashed or failed to publish. It takes a lane with a transaction lock.

A lane held by one is skipped by the other, so a lane's rows are never published by two holders
at once, and each holder starts from the lane's oldest unsent row.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.storage.database import Connection, Write, execute_many, run

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
# Both claims read the unsent index, which keeps an entry for every row marked sent since the last
# vacuum. A bitmap scan (what the planner picks) visits each of them in the heap on every claim,
# so each claim is slower than the one before as the dead entries pile up; a plain index scan
# marks them dead in the index on the first visit and skips them after (docs/performance.md,
# "The commit chain"). The setting ends with the claiming transaction.
_INDEX_SCANS = "SET LOCAL enable_bitmapscan = off"
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"

# Within the batch transaction: hold the free lanes among $2 past the commit, and lock the
# unsent rows they have (this transaction's, and any older ones) until then. This transaction's
# own rows (`mine`) come back without their contents: the caller has them in memory, in the
# order it inserted them, which is their id order.
_CLAIM_LANES = """
WITH lanes AS (SELECT lane FROM unnest($2::int[]) AS lane WHERE pg_try_advisory_lock($1, lane))
SELECT id, lane, mine,
       CASE WHEN mine THEN NULL ELSE topic END AS topic,
       CASE WHEN mine THEN NULL ELSE key END AS key,
       CASE WHEN mine THEN NULL ELSE value END AS value,
       CASE WHEN mine THEN NULL ELSE header_names END AS header_names,
       CASE WHEN mine THEN NULL ELSE header_values END AS header_values
FROM (
    SELECT id, lane, topic, key, value, header_names, header_values,
           xmin = pg_current_xact_id()::xid AS mine
    FROM outbox
    WHERE sent_at IS NULL AND lane IN (SELECT lane FROM lanes)
    ORDER BY id
    FOR UPDATE SKIP LOCKED
) AS claimed
ORDER BY id
"""
_COLUMNS = ("topic", "key", "value", "header_names", "header_values", "lane")
COPY_ROWS = 64
"""From this many rows on, `add` copies them (two round trips, much less work per row in the
database); fewer are inserted in one pipelined round trip."""
# After the commit, in one round trip: what was published is sent; the lanes are free again.
_MARK_SENT_AND_RELEASE = """
WITH marked AS (UPDATE outbox SET sent_at = now() WHERE id = ANY($2::bigint[]) RETURNING id)
SELECT (SELECT count(*) FROM marked) AS marked,
       (SELECT count(*) FROM unnest($3::int[]) AS lane WHERE pg_advisory_unlock($1, lane)) AS freed
"""
_RELEASE = "SELECT pg_advisory_unlock($1, lane) FROM unnest($2::int[]) AS lane"
_ANY_UNSENT = "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL)"
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
    """Insert the rows in this order (their ids follow it)."""
    await run(connection, adding(messages))


def adding(messages: Sequence[OutgoingMessage]) -> list[Write]:
    """The statement that inserts the rows in this order, their rows built now."""
    rows = [m.row() for m in messages]
    if len(rows) >= COPY_ROWS:
        return [
            lambda connection: connection.copy_records_to_table(
                "outbox", records=rows, columns=_COLUMNS
            )
        ]
    # executemany pipelines the rows in one round trip (COPY takes two).
    return [execute_many(_ADD, rows)] if rows else []


async def claim(connection: Connection, limit: int) -> list[ClaimedMessage]:
    """Within a transaction: lock free lanes and return their oldest unsent rows, in id order."""
    await connection.execute(_INDEX_SCANS)
    return _claimed(await connection.fetch(_CLAIM, _LANE_LOCK_SPACE, limit))


@dataclass(frozen=True, slots=True)
class LaneClaim:
    """The lanes a committing transaction holds past its commit, and their unsent rows."""

    lanes: list[int]
    messages: list[ClaimedMessage]
    declined: int  # rows of this transaction in lanes another holder had


async def claim_lanes(connection: Connection, messages: Sequence[OutgoingMessage]) -> LaneClaim:
    """Within the transaction that added `messages`: hold their free lanes beyond the commit
    (release them with `mark_sent_and_release`, or by closing or resetting the connection, as
    the pool does on release) and return those lanes' unsent rows in id order."""
    lanes = [lane_of(message.key) for message in messages]
    wanted = sorted(set(lanes))
    if not wanted:
        return LaneClaim([], [], 0)
    await connection.execute(_INDEX_SCANS)
    rows = await connection.fetch(_CLAIM_LANES, _LANE_LOCK_SPACE, wanted)
    # Each lane taken returns at least this transaction's own rows (no other holder can lock
    # them): a lane with no row returned is one another holder had.
    held = {row["lane"] for row in rows}
    own = iter([m for m, lane in zip(messages, lanes, strict=True) if lane in held])
    claimed = [
        ClaimedMessage(row["id"], row["lane"], next(own)) if row["mine"] else _claimed_row(row)
        for row in rows
    ]
    assert next(own, None) is None, "every row of this transaction in a held lane is claimed"
    declined = sum(1 for lane in lanes if lane not in held)
    return LaneClaim(sorted(held), claimed, declined)


async def mark_sent_and_release(
    connection: Connection, ids: Sequence[int], lanes: Sequence[int]
) -> None:
    await connection.fetchrow(_MARK_SENT_AND_RELEASE, _LANE_LOCK_SPACE, list(ids), list(lanes))


async def release(connection: Connection, lanes: Sequence[int]) -> None:
    if lanes:
        await connection.execute(_RELEASE, _LANE_LOCK_SPACE, list(lanes))


def _claimed(rows: Sequence[Any]) -> list[ClaimedMessage]:
    return [_claimed_row(row) for row in rows]


def _claimed_row(row: Any) -> ClaimedMessage:
    return ClaimedMessage(
        row["id"],
        row["lane"],
        OutgoingMessage(
            row["topic"],
            row["key"],
            row["value"],
            tuple(zip(row["header_names"], row["header_values"], strict=True)),
        ),
    )


async def mark_sent(connection: Connection, ids: Sequence[int]) -> None:
    if ids:
        await connection.execute(_MARK_SENT, list(ids))


async def any_unsent(connection: Connection) -> bool:
    return bool(await connection.fetchval(_ANY_UNSENT))


async def backlog(connection: Connection) -> tuple[int, float]:
    row = await connection.fetchrow(_BACKLOG)
    assert row is not None
    return int(row["pending"]), float(row["oldest_seconds"] or 0.0)


async def prune(connection: Connection, older_than_seconds: float, limit: int) -> int:
    status = await connection.execute(_PRUNE, float(older_than_seconds), limit)
    return int(status.split()[-1])
