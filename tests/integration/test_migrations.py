"""`program-builder migrate`: idempotent, race-free, and refusing an edited or unknown history."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from service.storage.migrations import (
    MigrationError,
    check_schema_current,
    default_directory,
    load_migrations,
    migrate,
)

pytestmark = pytest.mark.integration


async def test_migrate_twice_applies_once(empty_database: str) -> None:
    connection = await asyncpg.connect(empty_database)
    try:
        versions = [m.version for m in load_migrations()]
        assert await migrate(connection) == versions
        assert await migrate(connection) == []
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        assert {r["version"]: r["checksum"] for r in rows} == {
            m.version: m.checksum for m in load_migrations()
        }
        await check_schema_current(connection)
    finally:
        await connection.close()


async def test_two_instances_migrating_together_do_not_race(empty_database: str) -> None:
    connections = [await asyncpg.connect(empty_database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in connections))
        assert sorted(len(a) for a in applied) == [0, 0, len(load_migrations())]
    finally:
        for connection in connections:
            await connection.close()


async def test_edited_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(default_directory(), directory)
    connection = await asyncpg.connect(empty_database)
    try:
        await migrate(connection, directory)
        first = sorted(directory.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited after it was applied\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(connection, directory)
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await check_schema_current(connection, directory)
    finally:
        await connection.close()


async def test_service_refuses_a_database_lacking_a_migration(
    empty_database: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(default_directory(), directory)
    connection = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(MigrationError, match="run `program-builder migrate`"):
            await check_schema_current(connection, directory)
        await migrate(connection, directory)
        (directory / "9999_next.sql").write_text("CREATE TABLE later (id int);")
        with pytest.raises(MigrationError, match=r"lacks migrations \['9999_next'\]"):
            await check_schema_current(connection, directory)
    finally:
        await connection.close()


async def test_a_failing_migration_leaves_nothing_behind(
    empty_database: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(default_directory(), directory)
    (directory / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();"
    )
    connection = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(connection, directory)
        assert await connection.fetchval("SELECT to_regclass('half_done')") is None
        versions = await connection.fetch("SELECT version FROM schema_migrations")
        assert "9999_broken" not in {r["version"] for r in versions}
    finally:
        await connection.close()
