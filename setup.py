"""Build hook: the wheel carries the SQL migrations as package data (`service/storage/sql/`).

`migrations/` at the repository root stays the one place a migration is written; this copies
it into the built package, so `program-builder migrate` works from any install, not only from
a checkout (where `service.storage.migrations` reads `migrations/` directly).
Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PACKAGED_AS = Path("service") / "storage" / "sql"


class BuildWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads migrations/ of the checkout
        target = Path(self.build_lib) / PACKAGED_AS
        target.mkdir(parents=True, exist_ok=True)
        sql = sorted(MIGRATIONS.glob("*.sql"))
        if not sql:
            raise RuntimeError(f"no migrations in {MIGRATIONS}: the package would be useless")
        for path in sql:
            shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildWithMigrations})
