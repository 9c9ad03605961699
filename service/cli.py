"""`program-builder`: migrate, run, dev (embedded stack) — CONTRACT.md § "Operating the service"."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import asyncpg

from service import logs
from service.config import Settings
from service.storage.migrations import migrate

log = logging.getLogger("program_builder")


async def _migrate(settings: Settings) -> list[str]:
    connection = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=30)
    try:
        return await migrate(connection)
    finally:
        await connection.close()


def command_migrate(settings: Settings) -> int:
    applied = asyncio.run(_migrate(settings))
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none (up to date)")
    return 0


async def serve(settings: Settings) -> None:
    """Run consumer, relay and HTTP until SIGINT/SIGTERM (or a fatal error), then drain."""
    from faststream.asgi import AsgiFastStream

    from service.entrypoints.app import Service

    service = Service(settings)
    app = service.app
    if not isinstance(app, AsgiFastStream):
        runner = asyncio.create_task(app.run())
        stopper = asyncio.create_task(service.stopping.wait())
        await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():
            app.exit()
            await runner
        return

    import uvicorn

    class Server(uvicorn.Server):
        """Exits 0 after the graceful stop that SIGTERM/SIGINT asks for, as CONTRACT.md says
        (uvicorn would raise the signal again once shut down, ending the process with it)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    server = Server(
        uvicorn.Config(
            app,
            host="0.0.0.0",  # noqa: S104  (probes must be reachable in a container)
            port=settings.http_port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )

    async def stop_on_fatal() -> None:
        await service.stopping.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stop_on_fatal())
    try:
        await server.serve()
    finally:
        watcher.cancel()
    if not server.started:
        raise SystemExit(1)


def command_run(settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0


DEV_ENDPOINTS = Path(".data/dev.env")
"""Where `dev` leaves its broker and database addresses for `demo` (and you) while it runs."""


def command_dev(args: argparse.Namespace) -> int:
    from service.embedded import EmbeddedStack, require_embedded_extra

    require_embedded_extra("dev")

    with EmbeddedStack(keep_data=False) as stack:
        endpoints = {
            "KAFKA_BOOTSTRAP_SERVERS": stack.broker.bootstrap_servers,
            "DATABASE_URL": stack.postgres.url,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # Tansu has no idempotent producer
        }
        os.environ.update(endpoints)
        DEV_ENDPOINTS.parent.mkdir(exist_ok=True)
        DEV_ENDPOINTS.write_text("".join(f"{k}={v}\n" for k, v in endpoints.items()))
        settings = Settings()
        logs.configure(settings.log_level, "text" if args.log_format is None else args.log_format)
        log.info(
            "embedded stack up: broker %s, PostgreSQL %s",
            stack.broker.bootstrap_servers,
            stack.postgres.url,
        )
        command_migrate(settings)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(serve(settings))
        finally:
            DEV_ENDPOINTS.unlink(missing_ok=True)
    log.info("embedded stack stopped")
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """Against KAFKA_BOOTSTRAP_SERVERS if set, else a running `make run`, else its own stack."""
    from service.entrypoints.demo import run_demo

    if not args.embedded and "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        if DEV_ENDPOINTS.exists():
            settings = Settings(_env_file=DEV_ENDPOINTS)
            print(f"demo against the running `make run` ({settings.kafka_bootstrap_servers})")
            return asyncio.run(run_demo(settings))
        args.embedded = True
    if not args.embedded:
        return asyncio.run(run_demo(Settings()))

    from service.embedded import EmbeddedStack, require_embedded_extra

    require_embedded_extra("demo")
    print("demo on an embedded broker + PostgreSQL with the service in this process")
    logs.configure("WARNING", "text")
    with EmbeddedStack(keep_data=False) as stack:
        settings = Settings(
            kafka_bootstrap_servers=stack.broker.bootstrap_servers,
            database_url=stack.postgres.url,
            kafka_enable_idempotence=False,
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="program-builder", description=__doc__)
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
    asyncapi = sub.add_parser("asyncapi", help="write contracts/schemas/asyncapi.json")
    asyncapi.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)

    if args.command == "asyncapi":
        from service.entrypoints.asyncapi import write

        current = write(check=args.check)
        if not current:
            print("contracts/schemas/asyncapi.json is stale: run `program-builder asyncapi`")
        return 0 if current else 1
    if args.command == "dev":
        return command_dev(args)
    if args.command == "demo":
        return command_demo(args)
    if args.command == "docs":
        return command_docs(args)
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return command_migrate(settings)
    return command_run(settings)


if __name__ == "__main__":
    sys.exit(main())
