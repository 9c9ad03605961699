"""`program-builder import`: a JSON Lines file of programs sent through the commands topic as
`program.import` commands, at most N lines waiting for their result on a reply topic of the
run's own.

CONTRACT.md § "Operating the service → Bulk import". Each line's commandId is derived from its
tenant and program, so a rerun of the same file answers `duplicate` for what is already in and
imports the rest. A `duplicate` carrying an `error` is a rejection from an earlier run: the line
is sent once more under its content id (`import_file.content_id_of`), which also holds the
line's bytes. A line fixed since is new under that id and imported; an unchanged one answers
that id's first outcome, a rejection, and is never applied. How a line counts, once, by the
result of its last attempt (`import_file.outcome_of`):

- `applied`: imported (under either id).
- `rejected`, or, under the content id, `duplicate` carrying an `error`: rejected with that code
  and reported (the content id's rejection is about the bytes in the file now).
- `duplicate` without an error: already imported; except when this run sent the command more
  than once because no result came back in time (a reply copy is best effort: the service can
  stop between its commit and that publish). Then the first send of this run is what most likely
  applied it, so it counts as imported; either way the program is there exactly once.

A line keeps its in-flight slot through its second attempt: the limit bounds the lines waiting,
and one line has one command waiting at a time. A command whose result has not arrived
`resend_after` seconds after it was sent is sent again (same commandId, so the service answers
`duplicate` at worst), the wait doubling each time.

A stop signal stops the sending of lines (a line already sent still gets its second attempt);
the results in flight have `STOP_GRACE_SECONDS` to arrive; the summary is printed and the status
is 130. What was not sent or not answered is imported by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.dlq import HEADER_CORRELATION_ID, HEADER_REPLY_TO
from service.clients.client import partitions_of
from service.clients.import_file import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    ImportCommand,
    Line,
    Outcome,
    Rejected,
    Report,
    Tally,
    Unreadable,
    answers_an_earlier_rejection,
    count_lines,
    lines_of,
    outcome_of,
    read_line,
)
from service.clients.import_progress import PLAIN_INTERVAL_SECONDS, Progress, progress_for
from service.config import ConfigurationError, Settings
from service.publish.kafka import client_options, partition_for, start_producer

log = logging.getLogger("program_builder.import")

DEFAULT_IN_FLIGHT = 256
STOP_GRACE_SECONDS = 30.0
RESEND_AFTER_SECONDS = 60.0
BROKER_TIMEOUT_SECONDS = 15.0
READ_BATCH = 256
"""Lines read per trip to the reading thread (a pipe on standard input may block)."""


class CannotRun(Exception):
    """The import cannot start or go on (no file, broker unreachable): one line says why."""


@dataclass(slots=True)
class Pending:
    """A line's command waiting for its result: when it was last sent, and how many times."""

    command: ImportCommand
    sent_at: float
    sends: int = 1


@dataclass(slots=True)
class Clients:
    """The run's producer, and its consumer of the reply topic it created (deleted at close)."""

    settings: Settings
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    reply_topic: str

    @classmethod
    async def connect(cls, settings: Settings) -> Clients:
        """Connected, with the reply topic created and followed from its start; `CannotRun`
        with one line when the broker cannot be reached."""
        options = client_options(settings)
        reply_topic = f"{settings.topic_prefix}.import-replies.{uuid.uuid4().hex[:12]}"
        timeout_ms = int(BROKER_TIMEOUT_SECONDS * 1000)
        admin = AIOKafkaAdminClient(**options, request_timeout_ms=timeout_ms)
        try:
            await admin.start()
            await admin.create_topics([NewTopic(reply_topic, 1, settings.topic_replication_factor)])
        except (KafkaError, OSError, TimeoutError) as error:
            raise CannotRun(_unreachable(settings, error)) from None
        finally:
            await admin.close()
        clients = cls(
            settings,
            AIOKafkaProducer(
                **options,
                partitioner=partition_for,
                acks="all",
                enable_idempotence=settings.kafka_enable_idempotence,
                linger_ms=5,
                max_batch_size=1024 * 1024,
                max_request_size=2 * 1024 * 1024,
                request_timeout_ms=timeout_ms,
            ),
            AIOKafkaConsumer(
                **options,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                request_timeout_ms=timeout_ms,
            ),
            reply_topic,
        )
        try:
            await start_producer(clients.producer, settings.kafka_enable_idempotence)
            await clients.consumer.start()
            partitions = await partitions_of(options, [reply_topic], BROKER_TIMEOUT_SECONDS)
            clients.consumer.assign(partitions)
            await clients.consumer.seek_to_beginning(*partitions)
        except ConfigurationError as error:
            await clients.close()
            raise CannotRun(str(error)) from None
        except (KafkaError, OSError, TimeoutError) as error:
            await clients.close()
            raise CannotRun(_unreachable(settings, error)) from None
        except BaseException:
            await clients.close()
            raise
        return clients

    async def close(self) -> None:
        for client in (self.consumer, self.producer):
            with contextlib.suppress(Exception):
                await client.stop()
        admin = AIOKafkaAdminClient(**client_options(self.settings), request_timeout_ms=5000)
        with contextlib.suppress(Exception):  # the reply topic is the run's own
            await admin.start()
            await admin.delete_topics([self.reply_topic])
        with contextlib.suppress(Exception):
            await admin.close()


def _unreachable(settings: Settings, error: BaseException) -> str:
    name, text = type(error).__name__, str(error).strip()
    why = text if name in text else f"{name}: {text}" if text else name
    return (
        f"cannot reach the Kafka broker at {settings.kafka_bootstrap_servers} "
        f"(KAFKA_BOOTSTRAP_SERVERS): {why}"
    )


@dataclass(slots=True)
class Importer:
    """One run over one input: sends, matches results, tallies and reports."""

    settings: Settings
    clients: Clients
    report: Report
    progress: Progress
    in_flight: int = DEFAULT_IN_FLIGHT
    default_tenant: str | None = None
    resend_after: float = RESEND_AFTER_SECONDS
    stop_grace: float = STOP_GRACE_SECONDS
    tally: Tally = field(default_factory=Tally)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: bool = False
    resent: int = 0
    sent_under_content_id: int = 0
    last_line_sent: int = 0
    stopped_before_end: bool = False
    # commandId -> the lines waiting for it (a file may name one program twice), oldest first;
    # `_waiting` counts lines, so a line's second attempt takes no second slot
    _pending: dict[uuid.UUID, deque[Pending]] = field(default_factory=dict)
    _waiting: int = 0
    _slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    _all_answered: asyncio.Event = field(default_factory=asyncio.Event)
    _send_failure: BaseException | None = None
    _receive_failure: BaseException | None = None

    @property
    def waiting(self) -> int:
        return self._waiting

    def stop(self) -> None:
        """A stop signal: send nothing more."""
        self.interrupted = True
        self.stopping.set()
        self._slot_freed.set()

    async def run(self, lines: Iterator[Line]) -> None:
        """Send every line and wait for the results (or for a stop and its grace)."""
        receiving = asyncio.create_task(self._receive(), name="import-results")
        receiving.add_done_callback(self._receiving_ended)
        resending = asyncio.create_task(self._resend(), name="import-resend")
        ticking = asyncio.create_task(self._tick(), name="import-progress")
        try:
            await self._send_all(lines)
            await self._wait_for_results()
        finally:
            for task in (receiving, resending, ticking):
                task.cancel()
            await asyncio.gather(receiving, resending, ticking, return_exceptions=True)
        if self._receive_failure is not None:
            raise CannotRun(f"reading the results failed: {self._receive_failure}")

    def _receiving_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._receive_failure = task.exception()
            self.stopping.set()
            self._slot_freed.set()
            self._all_answered.set()

    # --- sending

    async def _send_all(self, lines: Iterator[Line]) -> None:
        while not self.stopping.is_set():
            batch = await asyncio.to_thread(_take, lines, READ_BATCH)
            if not batch:
                return
            for line in batch:
                item = read_line(line, self.default_tenant)
                if isinstance(item, Unreadable):
                    self.tally.unreadable += 1
                    self.report.unreadable(item)
                    self.progress.update(self)
                    continue
                while self._waiting >= self.in_flight and not self.stopping.is_set():
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                if self.stopping.is_set():
                    self.stopped_before_end = True
                    break
                self._raise_send_failure()
                self._waiting += 1
                self._all_answered.clear()
                self._pending.setdefault(item.command_id, deque()).append(
                    Pending(item, time.monotonic())
                )
                await self._send(item)
                self.last_line_sent = item.line
        self.stopped_before_end = True  # (the end of the input returns above)

    async def _send(self, command: ImportCommand) -> None:
        delivery = await self.clients.producer.send(
            self.settings.topics.commands,
            command.value,
            key=command.program_id.encode(),
            headers=[
                (HEADER_REPLY_TO, self.clients.reply_topic.encode()),
                (HEADER_CORRELATION_ID, str(command.command_id).encode()),
            ],
        )
        delivery.add_done_callback(self._delivered)

    def _delivered(self, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            self._sending_failed(delivery.exception())

    def _sending_failed(self, error: BaseException | None) -> None:
        """The broker did not take a command: stop, and let `run` end with `CannotRun`."""
        self._send_failure = error
        self.stopping.set()
        self._slot_freed.set()
        self._all_answered.set()

    def _raise_send_failure(self) -> None:
        if self._send_failure is not None:
            raise CannotRun(
                f"the broker at {self.settings.kafka_bootstrap_servers} did not take a command: "
                f"{type(self._send_failure).__name__}: {self._send_failure}"
            )

    async def _resend(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.resend_after / 4))
            now = time.monotonic()
            for waiting in list(self._pending.values()):
                if not waiting:  # answered while an earlier one of this round was being sent
                    continue
                first = waiting[0]
                if now - first.sent_at >= self.resend_after * 2 ** (first.sends - 1):
                    first.sends += 1
                    first.sent_at = now
                    self.resent += 1
                    await self._send(first.command)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.progress.update(self)

    async def _wait_for_results(self) -> None:
        if self._waiting and self._send_failure is None:
            with contextlib.suppress(Exception):
                await self.clients.producer.flush()
            if self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_answered.wait(), self.stop_grace)
            else:
                stop = asyncio.create_task(self.stopping.wait())
                answered = asyncio.create_task(self._all_answered.wait())
                await asyncio.wait({stop, answered}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                answered.cancel()
                if not self._all_answered.is_set() and self.interrupted:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._all_answered.wait(), self.stop_grace)
        self._raise_send_failure()

    # --- results

    async def _receive(self) -> None:
        while True:
            batches = await self.clients.consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    if record.value is not None:
                        await self._answered(record.value)
            if batches:
                self.progress.update(self)

    async def _answered(self, value: bytes) -> None:
        """A result: it ends its line (counted, reported, the slot freed), or, a `duplicate` of
        an earlier run's rejection under the line's first id, sends the line's second attempt."""
        try:
            result = json.loads(value)
            command_id = uuid.UUID(result["commandId"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a reply that is not a command result: %r", value[:200])
            return
        pending = self._take_pending(command_id)
        if pending is None:
            return  # a second answer (the command was sent again): counted already
        if answers_an_earlier_rejection(result) and not pending.command.under_content_id:
            await self._send_under_content_id(pending.command)
            return
        self._count(pending.command, outcome_of(result, sent_again=pending.sends > 1))
        self._waiting -= 1
        self._slot_freed.set()
        if self._waiting == 0:
            self._all_answered.set()

    def _take_pending(self, command_id: uuid.UUID) -> Pending | None:
        """The oldest line waiting for `command_id`, no longer waiting for it."""
        waiting = self._pending.get(command_id)
        if not waiting:
            return None
        pending = waiting.popleft()
        if not waiting:
            del self._pending[command_id]
        return pending

    async def _send_under_content_id(self, command: ImportCommand) -> None:
        """The line's second attempt (CONTRACT.md, bulk import). It waits in the slot the line
        holds, registered before it is sent, so its result cannot arrive unclaimed. A stop signal
        does not hold it back: the line was sent, and its outcome is this command's."""
        again = command.again_under_content_id()
        self._pending.setdefault(again.command_id, deque()).append(Pending(again, time.monotonic()))
        self.sent_under_content_id += 1
        try:
            await self._send(again)
        except KafkaError as error:  # raised here, it would pass for a failure to read results
            self._sending_failed(error)

    def _count(self, command: ImportCommand, outcome: Outcome | Rejected) -> None:
        self.tally.add(outcome)
        if isinstance(outcome, Rejected):
            self.report.rejected(command, outcome)
            self.progress.update(self)


def _take(lines: Iterator[Line], count: int) -> list[Line]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == count:
            break
    return batch


def _open_input(path: str) -> tuple[IO[bytes], int | None]:
    """The input stream and its number of lines (None for standard input or a pipe)."""
    if path == "-":
        return sys.stdin.buffer, None
    source = Path(path)
    try:
        stream = source.open("rb")
    except FileNotFoundError:
        raise CannotRun(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CannotRun(f"{path} is a directory, not a JSON Lines file") from None
    except OSError as error:
        raise CannotRun(f"cannot read {path}: {error.strerror or error}") from None
    if not stream.seekable():
        return stream, None
    try:
        total = count_lines(stream)
        stream.seek(0)
    except OSError as error:
        stream.close()
        raise CannotRun(f"cannot read {path}: {error.strerror or error}") from None
    return stream, total


async def import_file(
    settings: Settings,
    path: str,
    *,
    tenant: str | None,
    report_path: str,
    in_flight: int,
    resend_after: float = RESEND_AFTER_SECONDS,
    terminal: bool | None = None,
    progress_interval: float = PLAIN_INTERVAL_SECONDS,
) -> int:
    """The whole run: its exit status (CONTRACT.md). Prints the summary on standard output."""
    stream, total = _open_input(path)
    clients: Clients | None = None
    try:
        clients = await Clients.connect(settings)
        try:
            report_file = open(report_path, "w", encoding="utf-8")  # noqa: SIM115, ASYNC230
        except OSError as error:
            raise CannotRun(f"cannot write the report {report_path}: {error.strerror}") from None
        with (
            report_file,
            progress_for(total, terminal=terminal, interval=progress_interval) as progress,
        ):
            importer = Importer(
                settings,
                clients,
                Report(report_file),
                progress,
                in_flight=in_flight,
                default_tenant=tenant,
                resend_after=resend_after,
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, _on_signal, importer, progress, sig)
            try:
                await importer.run(lines_of(stream))
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                progress.finish(importer)
    finally:
        if clients is not None:
            await clients.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    return _ended(importer, report_path)


def _ended(importer: Importer, report_path: str) -> int:
    """The run's end on standard output (summary, what was sent again, the report, an
    interruption) and its exit status."""
    print(importer.tally.summary())
    if importer.sent_under_content_id:
        print(
            "rejected by an earlier run, sent again under their content id: "
            f"{importer.sent_under_content_id}"
        )
    if importer.resent:
        print(f"sent again after no result came: {importer.resent}")
    if importer.report.entries:
        print(f"report: {report_path} ({importer.report.entries} lines)")
    if importer.interrupted:
        where = (
            f"sending stopped after line {importer.last_line_sent}"
            if importer.stopped_before_end
            else "every line was sent"
        )
        print(
            f"interrupted: {where}, {importer.waiting} results not received; run the same "
            f"command again to complete the import"
        )
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if importer.tally.failed else EXIT_OK


def _on_signal(importer: Importer, progress: Progress, sig: signal.Signals) -> None:
    if importer.stopping.is_set():
        return
    progress.note(
        f"{sig.name}: sending stopped; waiting up to {importer.stop_grace:g} s for "
        f"{importer.waiting} results"
    )
    importer.stop()
