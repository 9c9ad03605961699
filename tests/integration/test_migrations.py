"""`program-builder migrate`: idempotent, race-free, and refusing an edited or unknown history."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
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


@pytest.fixture
async def unmigrated(empty_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a database no migration has touched."""
    connection = await asyncpg.connect(empty_database)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A copy of the shipped migrations, for a test to edit or add to."""
    copy = tmp_path / "migrations"
    shutil.copytree(default_directory(), copy)
    return copy


async def test_migrate_twice_applies_once(unmigrated: asyncpg.Connection) -> None:
    versions = [m.version for m in load_migrations()]
    assert await migrate(unmigrated) == versions
    assert await migrate(unmigrated) == []
    rows = await unmigrated.fetch("SELECT version, checksum FROM schema_migrations")
    assert {r["version"]: r["checksum"] for r in rows} == {
        m.version: m.checksum for m in load_migrations()
    }
    await check_schema_current(unmigrated)


async def test_two_instances_migrating_together_do_not_race(empty_database: str) -> None:
    connections = [await asyncpg.connect(empty_database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in connections))
        assert sorted(len(a) for a in applied) == [0, 0, len(load_migrations())]
    finally:
        for connection in connections:
            await connection.close()


async def test_edited_applied_migration_is_refused(
    unmigrated: asyncpg.Connection, migrations_copy: Path
) -> None:
    await migrate(unmigrated, migrations_copy)
    first = sorted(migrations_copy.glob("*.sql"))[0]  # noqa: ASYNC240 - a small local listing
    first.write_text(first.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(unmigrated, migrations_copy)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await check_schema_current(unmigrated, migrations_copy)


async def test_service_refuses_a_database_lacking_a_migration(
    unmigrated: asyncpg.Connection, migrations_copy: Path
) -> None:
    with pytest.raises(MigrationError, match="run `program-builder migrate`"):
        await check_schema_current(unmigrated, migrations_copy)
    await migrate(unmigrated, migrations_copy)
    (migrations_copy / "9999_next.sql").write_text("CREATE TABLE later (id int);")
    with pytest.raises(MigrationError, match=r"lacks migrations \['9999_next'\]"):
        await check_schema_current(unmigrated, migrations_copy)


async def test_a_failing_migration_leaves_nothing_behind(
    unmigrated: asyncpg.Connection, migrations_copy: Path
) -> None:
    (migrations_copy / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();"
    )
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(unmigrated, migrations_copy)
    assert await unmigrated.fetchval("SELECT to_regclass('half_done')") is None
    versions = await unmigrated.fetch("SELECT version FROM schema_migrations")
    assert "9999_broken" not in {r["version"] for r in versions}
