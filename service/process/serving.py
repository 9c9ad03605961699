"""`program-builder run`: the HTTP socket bound first, the service and its HTTP server run until a
stop signal (or until the service stops itself), then drained.

Everything heavy is imported inside the functions, once the stop signals are routed (see
`service.process.cli`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from service.process.signals import SIGNALS
from service.retry import Stopped, unless_stopped

if TYPE_CHECKING:
    from service.config import Settings
    from service.process.app import Service

log = logging.getLogger("program_builder")

EXIT_FAILED_START = 1
"""A dependency refused the settings, the HTTP port is taken, or the service stopped itself."""


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
    from service.process.app import Service

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
Python's default (700, 10, 10) the collector still walks them (and the whole heap, on its
full collections), a large share of an import's CPU (docs/performance.md, "The Python path")."""


def command_run(settings: Settings) -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    listener = listen(settings)
    try:
        return asyncio.run(serve(settings, listener))
    finally:
        if listener is not None:
            listener.close()
