"""`program-builder`: migrate, run, dev (embedded stack) — CONTRACT.md § "Operating the service".

SIGTERM and SIGINT mean one thing at every moment of the process's life: stop cleanly and exit 0.
While the service runs they set its stop event, and the drain follows; while `migrate` runs they
cancel it (its transaction rolls back, its connection closes); in synchronous phases (the
embedded stack starting) they unwind like Ctrl-C, so what was started is stopped. A start that
cannot succeed ends with one line naming the setting to change, and a non-zero status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from service import logs
from service.retry import Stopped, unless_stopped

# Everything else is imported where it is used, once `main` has routed the stop signals: the
# imports take a second or more, and a SIGTERM meanwhile must end the process like any other.
if TYPE_CHECKING:
    from pydantic import ValidationError

    from service.apache_kafka import KafkaJars
    from service.config import Settings
    from service.embedded import EmbeddedStack
    from service.entrypoints.app import Service

log = logging.getLogger("program_builder")

T = TypeVar("T")

EXIT_FAILED_START = 1
"""A dependency refused the settings, the HTTP port is taken, or the service stopped itself."""
EXIT_INVALID_SETTINGS = 2
"""A setting could not be parsed (the line names the environment variable)."""

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """SIGTERM and SIGINT, routed to whatever the process is doing when they arrive.

    The first one stops; later ones are ignored while that stop runs (it is bounded), so a
    second Ctrl-C cannot interrupt the cleanup of the first. Outside an event loop the first
    raises `KeyboardInterrupt`; inside one (`routed`), it calls the given callback from the loop.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> None:
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._interrupt)

    def ignore_further(self) -> None:
        """The process is on its way out (its cleanup must not be interrupted)."""
        self.received = self.received or signal.SIGTERM

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def routed(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], object]) -> Iterator[None]:
        """While the block runs, the first signal calls `stop` on `loop` (the loop's own signal
        handling wakes it at once); the synchronous handlers are back afterwards."""

        def on_signal(sig: signal.Signals) -> None:
            if self.received is not None:
                log.info("%s received while stopping: ignored", sig.name)
                return
            self.received = sig
            log.info("%s received: stopping", sig.name)
            stop()

        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            yield
        finally:
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)
            self.install()


SIGNALS = StopSignals()


def run_cancellable(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` in an event loop of its own; a stop signal cancels it, so its `finally`
    blocks run (transactions roll back, connections close), then `KeyboardInterrupt` is raised."""

    async def cancellable() -> T:
        task = asyncio.current_task()
        assert task is not None
        with SIGNALS.routed(asyncio.get_running_loop(), task.cancel):
            return await work()

    try:
        return asyncio.run(cancellable())
    except asyncio.CancelledError:
        if SIGNALS.received is None:
            raise
        raise KeyboardInterrupt from None


def load_settings() -> Settings:
    """The settings from the environment, or `InvalidSettings` naming each bad variable."""
    from pydantic import ValidationError

    from service.config import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettings(error) from None


class InvalidSettings(Exception):
    """Settings that do not parse; its text names each variable (never a secret's value)."""

    def __init__(self, error: ValidationError) -> None:
        problems = []
        for item in error.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            shown = "" if _is_secret(field) else f"={item['input']!r}"
            message = item["msg"]
            if item["type"] == "value_error":  # ours: without pydantic's "Value error, "
                message = str(item.get("ctx", {}).get("error", message))
            problems.append(f"{field.upper() or 'settings'}{shown}: {message}")
        super().__init__("invalid setting " + "; ".join(problems))


def _is_secret(field: str) -> bool:
    from service.config import Settings

    info = Settings.model_fields.get(field)
    return info is None or "SecretStr" in str(info.annotation)


async def _migrate(settings: Settings) -> list[str]:
    import asyncpg

    from service.config import ConfigurationError, without_password
    from service.storage.database import connection_refusal
    from service.storage.migrations import MigrationError, migrate, schema_refusal

    url = settings.database_url.get_secret_value()
    try:
        connection = await asyncpg.connect(url, timeout=30)
    except Exception as error:
        refused = connection_refusal(error, url)
        if refused is not None:
            raise refused from error
        raise ConfigurationError(
            "DATABASE_URL", f"cannot connect ({error}) to {without_password(url)}"
        ) from error
    try:
        return await migrate(connection)
    except MigrationError as error:
        raise schema_refusal(error, url) from error
    finally:
        await connection.close()


def command_migrate(settings: Settings) -> int:
    applied = run_cancellable(lambda: _migrate(settings))
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none (up to date)")
    return 0


def listen(settings: Settings, *, dev: bool = False) -> socket.socket | None:
    """The HTTP socket, bound before anything else starts (None when `HTTP_PORT=0`), so a taken
    port fails the start at once, with the ways out."""
    from service.config import ConfigurationError

    port = settings.http_port
    if port == 0:
        return None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))  # noqa: S104  (probes must be reachable in a container)
    except OSError as error:
        listener.close()
        raise ConfigurationError("HTTP_PORT", _bind_problem(settings, error, dev)) from error
    return listener


def _bind_problem(settings: Settings, error: OSError, dev: bool) -> str:
    port = settings.http_port
    which = f"port {port}" + ("" if "http_port" in settings.model_fields_set else " (the default)")
    if error.errno == errno.EADDRINUSE:
        if dev:
            return (
                f"{which} is already in use (another `make run`?); start with HTTP_PORT=0 to "
                f"run without HTTP, or HTTP_PORT=<n> for a free port, e.g. "
                f"`HTTP_PORT={port + 1 if port < 65535 else 8081} make run`"
            )
        return f"{which} is already in use; set HTTP_PORT to a free port, or 0 to disable HTTP"
    if error.errno == errno.EACCES:
        return f"not allowed to listen on {which}; use a port above 1023, or 0 to disable HTTP"
    return f"cannot listen on {which}: {error.strerror or error}"


class HttpServer:
    """The probes, metrics and AsyncAPI page served by uvicorn on the socket bound beforehand.

    uvicorn's lifespan is off (`serve` starts and stops the application itself, so a start
    waiting for its dependencies never blocks the server or a stop) and so are its signal
    handlers (a signal stops the service, which stops this server last)."""

    def __init__(self, service: Service, listener: socket.socket) -> None:
        import uvicorn
        from faststream.asgi import AsgiFastStream

        assert isinstance(service.app, AsgiFastStream), "HTTP needs HTTP_PORT != 0"

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self.port: int = listener.getsockname()[1]
        self.listener = listener
        self.server = Server(
            uvicorn.Config(
                service.app,
                lifespan="off",
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=1,
            )
        )
        self.task: asyncio.Task[None] | None = None

    def start(self, on_failure: Callable[[], None]) -> None:
        def ended(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("HTTP server failed: %r", task.exception())
                on_failure()

        self.task = asyncio.create_task(self.server.serve(sockets=[self.listener]), name="http")
        self.task.add_done_callback(ended)
        log.info("HTTP on port %d: /healthz, /readyz, /metrics, /docs/asyncapi", self.port)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task


async def serve(settings: Settings, listener: socket.socket | None) -> int:
    """Run consumer, relay and HTTP until SIGTERM/SIGINT (then 0) or until the service stops
    itself on a fatal error (then 1); drain in both cases. Waiting for the broker or the
    database at start is stopped by the signal too. A refusal of the settings raises
    `ConfigurationError` once everything started is closed."""
    from service.entrypoints.app import Service

    service = Service(settings)
    http = HttpServer(service, listener) if listener is not None else None
    with SIGNALS.routed(asyncio.get_running_loop(), service.stopping.set):
        if http is not None:
            http.start(on_failure=service.stopping.set)
        try:
            await _run_until_stopped(service)
        finally:
            if http is not None:
                await http.stop()
    if SIGNALS.received is None:
        log.error("program-builder stopped itself after the error above")
        return EXIT_FAILED_START
    return 0


async def _run_until_stopped(service: Service) -> None:
    try:
        await unless_stopped(service.app.start(), service.stopping)
        gc.freeze()  # what start-up built lives as long as the process: no collection walks it
        await service.stopping.wait()
    except Stopped:
        log.info("stopped before the service was ready")
    finally:
        await service.app.stop()


GC_THRESHOLDS = (50_000, 20, 100)
"""The cyclic collector's thresholds while serving. A batch allocates hundreds of thousands of
containers (parsed commands, aggregates, event payloads) that reference counting frees; at
Python's default (700, 10, 10) the collector still walked them (and the whole heap, on its
full collections) often enough to take about a third of an import's CPU."""


def command_run(settings: Settings) -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    listener = listen(settings)
    try:
        return asyncio.run(serve(settings, listener))
    finally:
        if listener is not None:
            listener.close()


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
    from service.apache_kafka import KafkaJars
    from service.embedded import TANSU_LACKS, EmbeddedStack, choose_broker

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
    from service.embedded import require_embedded_extra

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
                command_migrate(settings)
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
    from service.config import Settings
    from service.entrypoints.demo import run_demo

    if not args.embedded and "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        if DEV_ENDPOINTS.exists():
            return asyncio.run(run_demo(client_settings("demo")))
        args.embedded = True
    if not args.embedded:
        return asyncio.run(run_demo(Settings()))

    from service.embedded import require_embedded_extra

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
        command_migrate(settings)
        return asyncio.run(_demo_with_service(settings))


async def _demo_with_service(settings: Settings) -> int:
    from service.entrypoints.app import Service
    from service.entrypoints.demo import run_demo

    app = Service(settings).app
    await app.start()
    try:
        return await run_demo(settings)
    finally:
        await app.stop()


def command_docs(args: argparse.Namespace) -> int:
    """Serve the committed AsyncAPI document with the renderer shipped in the package."""
    from service.entrypoints.asyncapi import serve

    return serve(args.host, args.port)


EXIT_IMPORT_CANNOT_RUN = 2
EXIT_IMPORT_INTERRUPTED = 130


def command_import(args: argparse.Namespace) -> int:
    """`import FILE|-`: CONTRACT.md § "Bulk import"; 0, 1, 2 (could not run) or 130 (stopped)."""
    from service.entrypoints.bulk_import import CannotRun, import_file

    settings = client_settings("import")
    # Progress and the summary are the output; a client library's retries are not.
    logs.configure("WARNING", "text")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(
            import_file(
                settings,
                args.file,
                tenant=args.tenant,
                report_path=args.report,
                in_flight=args.in_flight,
            )
        )
    except CannotRun as reason:
        print(f"program-builder import: {reason}", file=sys.stderr)
        return EXIT_IMPORT_CANNOT_RUN
    finally:
        SIGNALS.install()  # the loop's handlers are gone with it


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    """The console script's commands and their options."""
    parser = argparse.ArgumentParser(prog="program-builder", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the SQL migrations to DATABASE_URL and exit")
    sub.add_parser("run", help="run consumer, outbox relay and HTTP until SIGTERM/SIGINT")
    dev = sub.add_parser("dev", help="embedded broker + PostgreSQL, migrate, run in the foreground")
    dev.add_argument("--log-format", choices=["json", "text"], default=None)
    demo = sub.add_parser("demo", help="drive a coaching session through Kafka, print the events")
    demo.add_argument(
        "--embedded", action="store_true", help="start a broker, PostgreSQL and the service"
    )
    docs = sub.add_parser("docs", help="serve the AsyncAPI page of the service")
    docs.add_argument("--host", default="127.0.0.1")
    docs.add_argument("--port", type=int, default=8000)
    _import_options(
        sub.add_parser(
            "import", help="bulk import of programs from JSON Lines through the commands topic"
        )
    )
    asyncapi = sub.add_parser("asyncapi", help="write contracts/schemas/asyncapi.json")
    asyncapi.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    return parser


def _import_options(bulk: argparse.ArgumentParser) -> None:
    bulk.add_argument("file", metavar="FILE", help="JSON Lines, one program per line; - for stdin")
    bulk.add_argument("--tenant", help="the tenantId of lines that carry none")
    bulk.add_argument(
        "--report",
        default="import-report.jsonl",
        help="where rejected and unreadable lines are listed (default: %(default)s)",
    )
    bulk.add_argument(
        "--in-flight",
        type=_positive,
        default=256,
        metavar="N",
        help="at most N commands waiting for their result (default: %(default)s)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "asyncapi":
        from service.entrypoints.asyncapi import write

        current = write(check=args.check)
        if not current:
            print("contracts/schemas/asyncapi.json is stale: run `program-builder asyncapi`")
        return 0 if current else 1
    if args.command == "demo":
        return command_demo(args)
    if args.command == "docs":
        return command_docs(args)
    SIGNALS.install()
    try:
        return _operate(args)
    except KeyboardInterrupt:  # a stop signal outside the event loop: everything unwound
        log.info("stopped (%s)", SIGNALS.received.name if SIGNALS.received else "SIGINT")
        if args.command == "import":
            print("program-builder import: stopped before sending anything", file=sys.stderr)
            return EXIT_IMPORT_INTERRUPTED
        return 0
    except InvalidSettings as invalid:
        print(f"program-builder {args.command}: {invalid}", file=sys.stderr)
        return EXIT_INVALID_SETTINGS if args.command != "import" else EXIT_IMPORT_CANNOT_RUN
    except Exception as error:
        from service.config import ConfigurationError

        if not isinstance(error, ConfigurationError):
            raise
        log.critical("cannot start: %s", error)
        return EXIT_FAILED_START


def _operate(args: argparse.Namespace) -> int:
    if args.command == "dev":
        return command_dev(args)
    if args.command == "import":
        return command_import(args)
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return command_migrate(settings)
    return command_run(settings)


if __name__ == "__main__":
    sys.exit(main())
