"""What the reliability tests share: their size, a deadline wait, and snapshots of the database
to compare runs (the command stream is `tests.support.generator`'s)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg

SCALE = float(os.environ.get("RELIABILITY_SCALE", "1"))
"""Multiplies the size of the long runs: `RELIABILITY_SCALE=10 make test` for a night run."""


def scaled(count: int) -> int:
    return max(1, int(count * SCALE))


# --- waiting and comparing


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


# --- the database, comparable across runs


async def database_state(pool: asyncpg.Pool) -> dict[str, Any]:
    return {
        "programs": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, tenant_id, name, weeks, version, athlete::text, start_date,
                          source_program_id, source_program_version, removed_origins::text,
                          origins_known
                   FROM programs ORDER BY id"""
            )
        ],
        "sessions": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, program_id, name, order_index, day_offset, rescheduled::text,
                          origin_id, customised
                   FROM sessions ORDER BY id"""
            )
        ],
        "groups": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, session_id, order_index, rounds, rest_between_rounds_seconds, notes,
                          origin_id
                   FROM exercise_groups ORDER BY id"""
            )
        ],
        "exercises": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, session_id, group_id, order_within_group, exercise_id, name,
                          warmup::text, origin_id
                   FROM program_exercises ORDER BY id"""
            )
        ],
        "prescriptions": [
            (r["id"], r["program_exercise_id"], r["week"], r["version"], json.dumps(r["series"]))
            for r in await pool.fetch(
                """SELECT id, program_exercise_id, week, version, series
                   FROM prescriptions ORDER BY id"""
            )
        ],
        "inbox": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT command_id, status, program_version, sync::text FROM inbox"
                " ORDER BY command_id"
            )
        ],
        # v1.3: each program's kept versions, exactly once each
        "history": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT program_id, version, undo::text FROM program_history"
                " ORDER BY program_id, version"
            )
        ],
    }
