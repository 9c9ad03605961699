"""Build hook: the wheel carries the SQL migrations as package data (`service/storage/sql/`), and
the pom that pins the Apache Kafka broker of `program-builder dev` (`devstack/kafka/pom.xml`).

`migrations/` and `tooling/kafka/pom.xml` at the repository root stay the one place each is
written; this copies them into the built package, so `program-builder migrate` (and `dev` on a
machine with Java and Maven) work from any install, not only from a checkout (which reads them
directly).
Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PACKAGED_AS = Path("service") / "storage" / "sql"
KAFKA_POM = Path(__file__).resolve().parent / "tooling" / "kafka" / "pom.xml"
POM_PACKAGED_AS = Path("devstack") / "kafka" / "pom.xml"


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
        pom = Path(self.build_lib) / POM_PACKAGED_AS
        pom.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(KAFKA_POM, pom)


setup(cmdclass={"build_py": BuildWithMigrations})
