"""Databases of the tests: one of a test's own on the session's PostgreSQL (a copy of a migrated
template, or empty), and a database's contents as values two runs can be compared by."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def database_url_for(url: str, database: str) -> str:
    """`url` with its database changed to `database`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def scratch_database(
    server_url: str, prefix: str, template: str | None = None
) -> AsyncIterator[str]:
    """A database of its own on the test server (a copy of `template`, else empty), dropped
    afterwards: its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
        yield database_url_for(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def database_state(pool: asyncpg.Pool) -> dict[str, Any]:
    """The programs' tables, the inbox and the kept versions, row by row in a fixed order (the
    outbox left out): two runs that reached the same state compare equal."""
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
        # each program's kept versions, exactly once each
        "history": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT program_id, version, undo::text FROM program_history"
                " ORDER BY program_id, version"
            )
        ],
    }
