"""Service processes of one test that share their topics, consumer group, database and log: the
prefix, environment, log and process setup the process-level tests share (`service_run` in
tests/conftest.py makes them, and kills what still runs at the end)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.topics import Topics
from service.config import Settings
from tests.support.kafka import CommandClient
from tests.support.process import ServiceProcess, service_env


class ServiceRun:
    """`program-builder run` processes on their own topics (`prefix`) and consumer group."""

    def __init__(self, bootstrap: str, database_url: str, log: Path, name: str, **env: str) -> None:
        self.prefix = f"{name}-{uuid.uuid4().hex[:8]}"
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.topics = Topics(self.prefix)
        self.env = service_env(bootstrap, database_url, self.prefix, **env)
        self.log = log
        self.processes: list[ServiceProcess] = []

    def process(self, *, crash_at: str | None = None, **env: str) -> ServiceProcess:
        """A new process of this run (not started yet), with `env` on top of the run's; with
        `crash_at`, one that kills itself at that point (`tests.support.crash_points`)."""
        process = ServiceProcess({**self.env, **env}, self.log)
        if crash_at is not None:
            process.program = (sys.executable, "-m", "tests.support.crash_points", crash_at)
        self.processes.append(process)
        return process

    def start(self, *, crash_at: str | None = None, **env: str) -> ServiceProcess:
        process = self.process(crash_at=crash_at, **env)
        process.start()
        return process

    def client(self, **options: Any) -> CommandClient:
        """A client of the run's topics (not started), reading every output from its start."""
        settings = Settings(kafka_bootstrap_servers=self.bootstrap, topic_prefix=self.prefix)
        return CommandClient(settings, **{"topic_timeout": 20, **options})

    def output(self) -> str:
        """The end of the run's log, for assertion messages."""
        return self.log.read_text(errors="replace")[-3000:]

    def kill_all(self) -> None:
        for process in self.processes:
            if process.alive():
                process.kill()


RunFactory = Callable[..., ServiceRun]
"""What the `service_run` fixture gives: `service_run(name, bootstrap=…, database_url=…, log=…,
**env)` makes a `ServiceRun`."""
