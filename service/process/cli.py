"""`program-builder`: migrate, run, dev (local stack), demo, import, docs, asyncapi —
CONTRACT.md § "Operating the service".

The dispatch of the console script: which command runs, and how each way of ending becomes an
exit status. A start that cannot succeed ends with one line naming the setting to change, and a
non-zero status; a stop signal ends it with 0 (`service.process.signals`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from service.process import logs
from service.process.serving import EXIT_FAILED_START
from service.process.settings import (
    EXIT_INVALID_SETTINGS,
    InvalidSettings,
    load_settings,
    migrate_database,
)
from service.process.signals import SIGNALS

# Everything else is imported where it is used, once `main` has routed the stop signals: the
# imports take a second or more, and a SIGTERM meanwhile must end the process like any other.

log = logging.getLogger("program_builder")


def command_docs(args: argparse.Namespace) -> int:
    """Serve the committed AsyncAPI document with the renderer shipped in the package."""
    from service.process.asyncapi import serve

    return serve(args.host, args.port)


def command_import(args: argparse.Namespace) -> int:
    """`import FILE|-`: CONTRACT.md § "Bulk import"; 0, 1, 2 (could not run) or 130 (stopped)."""
    from service.clients.bulk_import import CannotRun, import_file
    from service.clients.import_file import EXIT_CANNOT_RUN
    from service.process.dev import client_settings

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
        return EXIT_CANNOT_RUN
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
        from service.process.asyncapi import write

        current = write(check=args.check)
        if not current:
            print("contracts/schemas/asyncapi.json is stale: run `program-builder asyncapi`")
        return 0 if current else 1
    if args.command == "demo":
        from service.process.dev import command_demo

        return command_demo(args)
    if args.command == "docs":
        return command_docs(args)
    SIGNALS.install()
    try:
        return _operate(args)
    except KeyboardInterrupt:  # a stop signal outside the event loop: everything unwound
        log.info("stopped (%s)", SIGNALS.received.name if SIGNALS.received else "SIGINT")
        if args.command == "import":
            from service.clients.import_file import EXIT_INTERRUPTED

            print("program-builder import: stopped before sending anything", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 0
    except InvalidSettings as invalid:
        print(f"program-builder {args.command}: {invalid}", file=sys.stderr)
        return EXIT_INVALID_SETTINGS
    except Exception as error:
        from service.config import ConfigurationError

        if not isinstance(error, ConfigurationError):
            raise
        log.critical("cannot start: %s", error)
        return EXIT_FAILED_START


def _operate(args: argparse.Namespace) -> int:
    if args.command == "dev":
        from service.process.dev import command_dev

        return command_dev(args)
    if args.command == "import":
        return command_import(args)
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return migrate_database(settings)
    from service.process.serving import command_run

    return command_run(settings)


if __name__ == "__main__":
    sys.exit(main())
