"""`program-builder dev` and `demo` on a local stack, and the settings of the client commands
(`demo`, `import`) beside a running `make run`.

This is the one module of the service that imports `devstack`, and only inside the functions
that start a stack: the client commands that merely read `DEV_ENDPOINTS` never load it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.process import logs
from service.process.serving import listen, serve
from service.process.settings import InvalidSettings, load_settings, migrate_database
from service.process.signals import SIGNALS

if TYPE_CHECKING:
    from devstack.apache_kafka import KafkaJars
    from devstack.stack import EmbeddedStack
    from service.config import Settings

log = logging.getLogger("program_builder")


DEV_ENDPOINTS = Path(".data/dev.env")
"""Where `dev` leaves its broker and database addresses while it runs: `demo` and `import` read
them when KAFKA_BOOTSTRAP_SERVERS is not set (and you may `source` them)."""
DEV_BROKER_PORT = 9092
"""`dev`'s broker listens on Kafka's usual port when it is free, so commands written for a
local Kafka work as they are (`PB_DEV_BROKER_PORT` another one; 0: any free port)."""


@contextlib.contextmanager
def local_stack(**options: Any) -> Iterator[EmbeddedStack]:
    """The local broker (Apache Kafka if this machine can run it, else Tansu; `PB_BROKER`) and
    PostgreSQL, started, and stopped on exit; one line says which broker and, for Tansu, why
    and what it lacks. The first Apache Kafka start fetches its jars with Maven, its progress
    on one line."""
    from devstack.apache_kafka import KafkaJars
    from devstack.stack import TANSU_LACKS, EmbeddedStack, choose_broker

    choice = choose_broker()
    if choice.kind == "tansu":
        print(
            f"broker: the embedded Tansu ({TANSU_LACKS}), because {choice.why}; "
            "Java 17+ and Maven give Apache Kafka",
            file=sys.stderr,
        )
    stack = EmbeddedStack(choice=choice, **options)
    if choice.kind != "kafka" or KafkaJars().present():
        stack.start()
    else:
        with _fetch_progress(KafkaJars()) as progress:
            stack.start(progress)
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def _fetch_progress(jars: KafkaJars) -> Iterator[Callable[[int, int], None]]:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    title = f"fetching Apache Kafka {jars.version} with Maven (once, into {jars.directory.parent})"
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(title, total=None)

        def advance(files: int, size: int) -> None:
            progress.update(task, description=f"{title}: {files} files, {size / 1e6:.1f} MB")

        yield advance


def _dev_broker_port() -> int | None:
    wanted = int(os.environ.get("PB_DEV_BROKER_PORT", DEV_BROKER_PORT))
    if wanted == 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            log.info("port %d taken: the broker takes a free one (%s)", wanted, DEV_ENDPOINTS)
            return None
    return wanted


def command_dev(args: argparse.Namespace) -> int:
    from devstack.stack import require_embedded_extra

    require_embedded_extra("dev")

    settings = load_settings()
    logs.configure(settings.log_level, "text" if args.log_format is None else args.log_format)
    listener = listen(settings, dev=True)
    try:
        with local_stack(keep_data=False, broker_port=_dev_broker_port()) as stack:
            endpoints = {
                "KAFKA_BOOTSTRAP_SERVERS": stack.broker.bootstrap_servers,
                "DATABASE_URL": stack.postgres.url,
                "KAFKA_ENABLE_IDEMPOTENCE": str(stack.broker.idempotent).lower(),
            }
            os.environ.update(endpoints)
            DEV_ENDPOINTS.parent.mkdir(exist_ok=True)
            DEV_ENDPOINTS.write_text("".join(f"{k}={v}\n" for k, v in endpoints.items()))
            try:
                settings = load_settings()
                log.info(
                    "local stack up: %s on %s, PostgreSQL %s (written to %s)",
                    stack.broker.settings_description(),
                    stack.broker.bootstrap_servers,
                    stack.postgres.url,
                    DEV_ENDPOINTS,
                )
                migrate_database(settings)
                status = asyncio.run(serve(settings, listener))
            finally:
                SIGNALS.ignore_further()  # stopping the stack must not be interrupted
                DEV_ENDPOINTS.unlink(missing_ok=True)
    finally:
        if listener is not None:
            listener.close()
    log.info("local stack stopped")
    return status


def client_settings(command: str) -> Settings:
    """The settings of a client command (`import`, `demo`): the environment's, or, when it
    names no broker, those of a `make run` running in this folder (DEV_ENDPOINTS)."""
    from service.config import Settings

    if "KAFKA_BOOTSTRAP_SERVERS" in os.environ or not DEV_ENDPOINTS.exists():
        return load_settings()
    from pydantic import ValidationError

    try:
        settings = Settings(_env_file=DEV_ENDPOINTS)
    except ValidationError as error:
        raise InvalidSettings(error) from None
    print(
        f"{command}: using the running `make run` ({settings.kafka_bootstrap_servers}, "
        f"from {DEV_ENDPOINTS})",
        file=sys.stderr,
    )
    return settings


def command_demo(args: argparse.Namespace) -> int:
    """Against KAFKA_BOOTSTRAP_SERVERS if set, else a running `make run`, else its own stack."""
    from service.clients.demo import run_demo
    from service.config import Settings

    if not args.embedded and "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        if DEV_ENDPOINTS.exists():
            return asyncio.run(run_demo(client_settings("demo")))
        args.embedded = True
    if not args.embedded:
        return asyncio.run(run_demo(Settings()))

    from devstack.stack import require_embedded_extra

    require_embedded_extra("demo")
    print("demo on a local broker + PostgreSQL with the service in this process")
    logs.configure("WARNING", "text")
    with local_stack(keep_data=False) as stack:
        settings = Settings(
            kafka_bootstrap_servers=stack.broker.bootstrap_servers,
            database_url=stack.postgres.url,
            kafka_enable_idempotence=stack.broker.idempotent,
            http_port=0,
        )
        migrate_database(settings)
        return asyncio.run(_demo_with_service(settings))


async def _demo_with_service(settings: Settings) -> int:
    from service.clients.demo import run_demo
    from service.process.app import Service

    app = Service(settings).app
    await app.start()
    try:
        return await run_demo(settings)
    finally:
        await app.stop()
