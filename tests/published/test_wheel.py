"""The install path outside the checkout: a wheel built from the repository carries the
migrations and the AsyncAPI page; installed into a fresh virtualenv, `program-builder migrate`
and `program-builder run` work from any directory against a real database and broker, and
`MIGRATIONS_DIR` still overrides the packaged migrations."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path

import asyncpg
import httpx
import pytest

from devstack.children import free_port
from service.process.asyncapi import asset_paths
from tests.support.tooling import ROOT

SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "contracts",
    "service",
    "migrations",
    "tooling/kafka/pom.xml",
)
MIGRATIONS = sorted(path.name for path in (ROOT / "migrations").glob("*.sql"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of the sources (so the checkout gets no build/ debris), offline."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("program_builder-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel; its dependencies come from the test environment's
    site-packages through a .pth file (the same pinned versions, no index needed)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


async def run_cli(venv: Path, cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "program-builder"),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def environment(**settings: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "LOG_FORMAT": "text", "XDG_RUNTIME_DIR": "/tmp", **settings}


def test_the_wheel_carries_migrations_schemas_and_the_page(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"service/storage/sql/{name}" for name in MIGRATIONS} <= names
    assert "contracts/schemas/asyncapi.json" in names
    assert "contracts/schemas/command.schema.json" in names
    renderer = "service/process/static/asyncapi-react-component/"
    assert {renderer + "standalone.js", renderer + "default.min.css"} <= names
    assert "devstack/kafka/pom.xml" in names  # `dev` fetches the same pinned Apache Kafka
    assert not any(name.startswith(("tests/", "tooling/", "migrations/")) for name in names)


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import service, contracts; print(service.__file__); print(contracts.__file__)",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert all(line.startswith(str(installed)) for line in done.stdout.split()), done.stdout


async def test_migrate_then_run_from_any_directory(
    installed: Path,
    empty_database: str,
    kafka_server: tuple[str, str, bool],
    tmp_path: Path,
) -> None:
    cli = str(installed / "bin" / "program-builder")
    status, output = await run_cli(
        installed, tmp_path, environment(DATABASE_URL=empty_database), "migrate"
    )
    assert status == 0, output
    applied = ", ".join(Path(name).stem for name in MIGRATIONS)
    assert f"migrations applied: {applied}" in output

    servers, _, idempotent = kafka_server
    port = free_port()
    tag = uuid.uuid4().hex[:8]
    process = await asyncio.create_subprocess_exec(
        cli,
        "run",
        cwd=tmp_path,
        env=environment(
            DATABASE_URL=empty_database,
            KAFKA_BOOTSTRAP_SERVERS=servers,
            KAFKA_ENABLE_IDEMPOTENCE=str(idempotent).lower(),
            TOPIC_PREFIX=f"wheel-{tag}",
            CONSUMER_GROUP=f"wheel-{tag}",
            HTTP_PORT=str(port),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any("program-builder ready" in line for line in lines):
                line = await process.stdout.readline()
                assert line, "run exited before it was ready:\n" + "".join(lines)
                lines.append(line.decode(errors="replace"))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for path in asset_paths().values():
                assert (await http.get(path)).status_code == 200, path
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 60)
        lines.append(rest.decode(errors="replace"))
    assert process.returncode == 0, "".join(lines)


async def test_migrations_dir_overrides_the_packaged_migrations(
    installed: Path, empty_database: str, tmp_path: Path
) -> None:
    directory = tmp_path / "sql"
    shutil.copytree(ROOT / "migrations", directory)
    (directory / "9999_marker.sql").write_text("CREATE TABLE wheel_marker (id int);\n")
    env = environment(DATABASE_URL=empty_database, MIGRATIONS_DIR=str(directory))
    status, output = await run_cli(installed, tmp_path, env, "migrate")
    assert status == 0, output
    assert "9999_marker" in output
    connection = await asyncpg.connect(empty_database)
    try:
        assert await connection.fetchval("SELECT to_regclass('wheel_marker') IS NOT NULL")
    finally:
        await connection.close()
