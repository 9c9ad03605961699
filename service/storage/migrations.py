"""A small transactional migration runner: one advisory lock, one transaction per file, checksums.

Why our own and not a tool: the schema is plain SQL files applied in name order, and what we need
is exactly three guarantees: two instances starting together cannot race (advisory lock), a file
is applied whole or not at all (its own transaction, recorded in the same transaction), and an
edited, already-applied file is refused (checksum), so the database never drifts from the repo.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from service.config import ConfigurationError, without_password
from service.storage import origins
from service.storage.database import Connection

_LOCK_KEY = 0x70726F67  # "prog": one advisory lock for every migration run of this service

_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


DATA_STEPS: dict[str, Callable[[Connection], Awaitable[None]]] = {
    "0008_sync_and_undo": origins.recover,
}
"""What a migration needs done in Python, in its transaction, right after its SQL."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The database's migration history disagrees with the repository."""


def schema_refusal(error: MigrationError, url: str) -> ConfigurationError:
    """The database's schema is not the one this code needs: name the setting (no password)."""
    return ConfigurationError("DATABASE_URL", f"{error} ({without_password(url)})")


PACKAGED = Path(__file__).resolve().parent / "sql"
"""Where an installed wheel carries the migrations (copied from `migrations/` by setup.py)."""
CHECKOUT = Path(__file__).resolve().parents[2] / "migrations"
"""`migrations/` of the source checkout, for an editable install or a run from the checkout."""


def default_directory() -> Path:
    """`MIGRATIONS_DIR` if set, else the migrations inside the installed package, else the
    checkout's `migrations/`."""
    if os.environ.get("MIGRATIONS_DIR"):
        return Path(os.environ["MIGRATIONS_DIR"])
    if PACKAGED.is_dir():
        return PACKAGED
    if CHECKOUT.is_dir() and (CHECKOUT.parent / "pyproject.toml").is_file():
        return CHECKOUT
    raise MigrationError(
        f"no migrations found: neither {PACKAGED} (an installed wheel) nor {CHECKOUT} (a "
        "source checkout) exists; set MIGRATIONS_DIR to the directory of the .sql files"
    )


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or default_directory()
    migrations = [Migration(p.stem, p.read_text()) for p in sorted(directory.glob("*.sql"))]
    if not migrations:
        raise MigrationError(f"no migrations (*.sql files) in {directory}")
    return migrations


async def migrate(connection: Connection, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; return the versions applied now (empty when up to date)."""
    migrations = load_migrations(directory)
    applied_now: list[str] = []
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await connection.execute(_HISTORY_TABLE)
        history = await _history(connection)
        _check_history(migrations, history)
        for migration in migrations:
            if migration.version in history:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                data_step = DATA_STEPS.get(migration.version)
                if data_step is not None:
                    await data_step(connection)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def check_schema_current(connection: Connection, directory: Path | None = None) -> None:
    """Refuse to run against a database whose schema is older than this code (or edited)."""
    migrations = load_migrations(directory)
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    history = await _history(connection) if exists else {}
    _check_history(migrations, history)
    pending = [m.version for m in migrations if m.version not in history]
    if pending:
        raise MigrationError(
            f"the database lacks migrations {pending}: run `program-builder migrate` first"
        )


async def _history(connection: Connection) -> dict[str, str]:
    rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _check_history(migrations: list[Migration], history: dict[str, str]) -> None:
    known = {m.version: m for m in migrations}
    for version, checksum in history.items():
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version}, which this code does not know: "
                "it is older than the schema"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version} was changed after it was applied; add a new migration instead"
            )
