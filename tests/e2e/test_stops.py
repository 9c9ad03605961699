"""Stopping and failing to start, as an operator or an orchestrator meets them: the installed
console script in a subprocess, signalled at awkward moments, its exit timed.

SIGTERM or SIGINT, at any point, ends the process within `STOP_LIMIT` seconds with status 0,
every client and pool closed (nothing unclosed reported, nothing left running), after the drain
when there was work in flight. A start that cannot succeed ends with one line naming the setting
to change, a non-zero status, no traceback. Processes start side by side, to keep the suite
short; their stops are timed one at a time (interpreters tearing down together on two cores
would time the machine, not the service)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer

from contracts.topics import Topics
from devstack.children import free_port
from service.clients.client import partitions_of
from service.storage import migrations
from tests.support.brokers import own_broker
from tests.support.infrastructure import Infrastructure
from tests.support.kafka import produce
from tests.support.process import Exit, ServiceProcess, service_env
from tests.support.proxy import TcpProxy
from tests.support.refusing_broker import RefusingBroker

STOP_LIMIT = 5.0
"""Seconds from the signal to the exit, whatever the process was doing."""

FAILED_START_LIMIT = 30.0
"""Seconds from the start to the exit of a start that cannot succeed: only a bound on a hang
(eight interpreters starting at once on two busy cores take seconds before they fail)."""

NOISE = (
    "Traceback",
    "Unclosed",
    "unclosed",
    "ResourceWarning",
    "Task was destroyed",
    "never awaited",
)


def env(bootstrap: str, database_url: str, **extra: str) -> dict[str, str]:
    """A process of its own topics and group; INFO logs; unclosed resources reported."""
    prefix = f"stop-{uuid.uuid4().hex[:8]}"
    defaults = {
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "text",
        "PYTHONWARNINGS": "always::ResourceWarning",
        "PB_DEV_BROKER_PORT": "0",  # `dev`s side by side: not Kafka's usual port
    }
    return service_env(bootstrap, database_url, prefix, **(defaults | extra))


def unreachable() -> str:
    return f"127.0.0.1:{free_port()}"


def assert_stopped_cleanly(process: ServiceProcess, ended: Exit) -> None:
    """Status 0 in time; from the signal on, no traceback and no unclosed resource (what
    the clients logged during an outage before it is not the stop's doing)."""
    output = process.output()
    assert ended.status == 0, f"status {ended.status}:\n{output[-3000:]}"
    assert ended.seconds < STOP_LIMIT, f"took {ended.seconds:.1f} s:\n{output[-3000:]}"
    after = output[process.signalled_at :]
    assert not [word for word in NOISE if word in after], after[-5000:]
    assert process.group_left() == [], "a process of its group is still running"


def assert_failed_start(process: ServiceProcess, ended: Exit, status: int, *names: str) -> str:
    """One last line names the setting(s); no traceback, no unclosed client; returns the line."""
    output = process.output()
    assert ended.status == status, output[-3000:]
    assert ended.seconds < FAILED_START_LIMIT, f"took {ended.seconds:.1f} s:\n{output}"
    assert not [word for word in NOISE if word in output], output
    line = output.strip().splitlines()[-1]
    for name in names:
        assert name in line, output
    return line


@pytest.fixture
async def stop_all() -> AsyncIterator[list[ServiceProcess]]:
    """Processes a test started; any still alive at its end is killed."""
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        if process.alive():
            process.kill()


def started(processes: list[ServiceProcess], process: ServiceProcess) -> ServiceProcess:
    processes.append(process)
    process.start()
    return process


async def http_status(port: int, path: str) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{port}{path}", timeout=5)).status_code


# --- stopped while waiting at start


async def test_stops_while_waiting_for_the_broker_the_database_or_the_group(
    infrastructure: Infrastructure,
    database_url: str,
    tmp_path: Path,
    stop_all: list[ServiceProcess],
) -> None:
    """The broker or the database does not answer: the start waits with backoff, and a signal
    ends the wait at once, with HTTP on (uvicorn) or off, SIGTERM or SIGINT. The same while the
    consumer group join holds the start (Tansu holds a join for half the session timeout)."""
    bootstrap = infrastructure.kafka_bootstrap_servers
    http_ports = {name: free_port() for name in ("broker, HTTP, SIGTERM", "broker, HTTP, SIGINT")}
    cases: dict[str, tuple[ServiceProcess, signal.Signals, str]] = {}
    for name, sig in (
        ("broker, HTTP, SIGTERM", signal.SIGTERM),
        ("broker, HTTP, SIGINT", signal.SIGINT),
        ("broker, SIGTERM", signal.SIGTERM),
        ("broker, SIGINT", signal.SIGINT),
    ):
        port = str(http_ports.get(name, 0))
        environment = env(unreachable(), "postgresql://postgres@127.0.0.1:1/x", HTTP_PORT=port)
        process = ServiceProcess(environment, tmp_path / f"{len(cases)}.log")
        cases[name] = (started(stop_all, process), sig, "broker not available")
    environment = env(bootstrap, f"postgresql://postgres@{unreachable()}/x")
    process = ServiceProcess(environment, tmp_path / "database.log")
    cases["database, SIGTERM"] = (
        started(stop_all, process),
        signal.SIGTERM,
        "database not available",
    )
    environment = env(bootstrap, database_url, KAFKA_SESSION_TIMEOUT_MS="30000")
    process = ServiceProcess(environment, tmp_path / "join.log")
    cases["group join, SIGTERM"] = (
        started(stop_all, process),
        signal.SIGTERM,
        "waiting for messages",
    )

    for process, _, waiting in cases.values():
        await process.wait_for(waiting, 60)
    for name, port in http_ports.items():  # alive, not ready, while it waits
        assert await http_status(port, "/healthz") == 204, name
        assert await http_status(port, "/readyz") == 503, name
    joining = "program-builder ready" not in cases["group join, SIGTERM"][0].output()

    # One at a time: each exit is timed alone (interpreters tearing down together on two
    # cores would time the machine, not the service); the others keep waiting meanwhile.
    ends = [await process.stop(sig) for process, sig, _ in cases.values()]
    for (name, (process, sig, _)), ended in zip(cases.items(), ends, strict=True):
        print(f"waiting for the {name}: status {ended.status} in {ended.seconds:.2f} s")
        assert_stopped_cleanly(process, ended)
        assert f"{sig.name} received: stopping" in process.output(), name
    if joining:  # a broker that completes joins at once (Kafka without initial delay) skips this
        assert "in a group join" in cases["group join, SIGTERM"][0].output()


# --- stopped mid-stream, with work in flight or in a retry backoff


def commands(count: int) -> list[tuple[bytes, bytes]]:
    """Distinct, valid program.create commands: each is applied and answered once."""
    messages = []
    for index in range(count):
        program_id = uuid.uuid4()
        command = {
            "commandId": str(uuid.uuid4()),
            "type": "program.create",
            "tenantId": "tenant-stops",
            "programId": str(program_id),
            "issuedAt": "2026-11-25T00:00:00Z",
            "name": f"Program {index}",
            "weeks": 4,
        }
        messages.append((str(program_id).encode(), json.dumps(command).encode()))
    return messages


async def committed_offsets(bootstrap: str, topics: Topics, group: str) -> int:
    partitions = await partitions_of({"bootstrap_servers": bootstrap}, [topics.commands], 10)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offsets = [await consumer.committed(partition) for partition in partitions]
        return sum(offset or 0 for offset in offsets)
    finally:
        await consumer.stop()


async def test_sigterm_with_work_in_flight_drains_first(
    infrastructure: Infrastructure,
    database_url: str,
    tmp_path: Path,
    stop_all: list[ServiceProcess],
) -> None:
    """SIGTERM while batches are being applied: the batch in flight commits and is acked, the
    relay publishes what was committed, then the process exits 0 in time."""
    bootstrap = infrastructure.kafka_bootstrap_servers
    environment = env(bootstrap, database_url, CONSUME_MAX_RECORDS="50")
    prefix = environment["TOPIC_PREFIX"]
    process = started(stop_all, ServiceProcess(environment, tmp_path / "drain.log"))
    await process.wait_for("program-builder ready", 60)
    await produce(bootstrap, Topics(prefix).commands, commands(3000))
    await process.wait_for("command processed", 30)

    ended = await process.stop(signal.SIGTERM)

    print(f"work in flight, SIGTERM: status {ended.status} in {ended.seconds:.2f} s")
    assert_stopped_cleanly(process, ended)
    connection = await asyncpg.connect(database_url)
    try:
        applied = await connection.fetchval("SELECT count(*) FROM inbox")
        unsent = await connection.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    finally:
        await connection.close()
    assert 0 < applied < 3000, "stopped mid-stream"
    assert unsent == 0, "the relay published everything that was committed"
    assert await committed_offsets(bootstrap, Topics(prefix), prefix) == applied, (
        "every applied batch was acked, and nothing unapplied was"
    )


async def test_stops_in_a_retry_backoff_during_a_database_outage(
    infrastructure: Infrastructure,
    database_url: str,
    tmp_path: Path,
    stop_all: list[ServiceProcess],
) -> None:
    """The database goes away mid-stream: the batch waits in its retry backoff, the relay in
    its own; SIGTERM ends both waits and the process exits 0 in time."""
    bootstrap = infrastructure.kafka_bootstrap_servers
    database_port = urlsplit(database_url).port
    assert database_port is not None
    proxy = TcpProxy(free_port(), database_port)
    await proxy.open()
    through_proxy = database_url.replace(f":{database_port}/", f":{proxy.port}/")
    environment = env(bootstrap, through_proxy)
    process = started(stop_all, ServiceProcess(environment, tmp_path / "database-outage.log"))
    try:
        await process.wait_for("program-builder ready", 60)
        await proxy.close()
        await produce(bootstrap, Topics(environment["TOPIC_PREFIX"]).commands, commands(20))
        await process.wait_for("retrying batch", 30)

        ended = await process.stop(signal.SIGTERM)
    finally:
        await proxy.close()
    print(f"database outage, in backoff, SIGTERM: status {ended.status} in {ended.seconds:.2f} s")
    assert_stopped_cleanly(process, ended)
    assert "uncommitted commands: they will be redelivered" in process.output()


async def test_stops_during_a_broker_outage(
    database_url: str,
    tmp_path: Path,
    stop_all: list[ServiceProcess],
    infrastructure: Infrastructure,
) -> None:
    """The broker goes away mid-stream (its connections cut, new ones refused): SIGTERM still
    ends the process in time; what could not be published stays in the outbox."""
    proxy_port = free_port()
    broker = own_broker(infrastructure, tmp_path, advertised_port=proxy_port)
    await asyncio.to_thread(broker.start)
    proxy = TcpProxy(proxy_port, broker.port)
    await proxy.open()
    try:
        environment = env(broker.bootstrap_servers, database_url)
        process = started(stop_all, ServiceProcess(environment, tmp_path / "broker-outage.log"))
        await process.wait_for("program-builder ready", 60)
        await produce(
            broker.bootstrap_servers, Topics(environment["TOPIC_PREFIX"]).commands, commands(20)
        )
        await process.wait_for("command processed", 30)
        await proxy.close()
        await asyncio.sleep(1)  # the clients notice, the relay backs off

        ended = await process.stop(signal.SIGTERM)
    finally:
        await proxy.close()
        await asyncio.to_thread(broker.stop)
    print(f"broker outage, SIGTERM: status {ended.status} in {ended.seconds:.2f} s")
    assert_stopped_cleanly(process, ended)


# --- migrate, waiting for the advisory lock


async def test_migrate_waiting_for_the_lock_stops(
    empty_database: str, tmp_path: Path, stop_all: list[ServiceProcess]
) -> None:
    """Another instance holds the migration lock: `migrate` waits; SIGTERM or SIGINT cancels
    the wait (its connection closes, nothing is applied) and it exits 0 in time."""
    url = empty_database
    name = urlsplit(url).path.lstrip("/")
    holder = await asyncpg.connect(url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrations._LOCK_KEY)
        waiting = {
            sig: started(
                stop_all,
                ServiceProcess(
                    env(unreachable(), url), tmp_path / f"migrate-{sig.name}.log", command="migrate"
                ),
            )
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        await _until_waiting_for_lock(holder, name, len(waiting))

        ends = [await process.stop(sig) for sig, process in waiting.items()]

        for (sig, process), ended in zip(waiting.items(), ends, strict=True):
            print(f"migrate: {sig.name} -> status {ended.status} in {ended.seconds:.2f} s")
            assert_stopped_cleanly(process, ended)
        others = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        assert others == 0, "the waiting connections are closed"
        assert await holder.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await holder.close()


async def _until_waiting_for_lock(
    connection: asyncpg.Connection, database: str, count: int
) -> None:
    for _ in range(600):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1",
            database,
        )
        if waiting == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("migrate never waited for the advisory lock")


# --- dev, signalled while its embedded stack starts and once it runs


def embedded_servers(process: ServiceProcess) -> list[psutil.Process]:
    return [
        child
        for child in process.descendants()
        if any(
            word in " ".join(_cmdline(child))
            for word in ("tansu", "broker", "kafka.Kafka", "StorageTool", "postgres", "initdb")
        )
    ]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


async def test_dev_stops_while_its_stack_starts_and_once_it_runs(
    tmp_path: Path, stop_all: list[ServiceProcess]
) -> None:
    """`dev` (what `make run` runs) signalled while the broker and PostgreSQL start, and Ctrl-C
    once it serves: both exit 0 in time and leave no server process and no scratch directory."""
    runs: dict[str, ServiceProcess] = {}
    for name in ("starting", "running"):
        directory = tmp_path / name
        (directory / "tmp").mkdir(parents=True)
        environment = env(
            "unused:1",
            "postgresql://unused@127.0.0.1:1/unused",
            HTTP_PORT=str(free_port()),
            TMPDIR=str(directory / "tmp"),
        )
        process = ServiceProcess(environment, directory / "dev.log", command="dev", cwd=directory)
        runs[name] = started(stop_all, process)

    starting = runs["starting"]
    for _ in range(600):
        servers = embedded_servers(starting)
        if servers:
            break
        assert starting.alive(), starting.output()
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the embedded stack never started")
    assert "local stack up" not in starting.output()
    first = await starting.stop(signal.SIGTERM)

    running = runs["running"]
    await running.wait_for("program-builder ready", 90)
    servers += embedded_servers(running)
    second = await running.stop(signal.SIGINT)

    for (name, process), ended in zip(runs.items(), (first, second), strict=True):
        print(f"dev {name}: status {ended.status} in {ended.seconds:.2f} s")
        assert_stopped_cleanly(process, ended)
        assert list((process.log.parent / "tmp").iterdir()) == [], f"{name}: scratch left"
        assert not (process.log.parent / ".data" / "dev.env").exists()
    left = [p.pid for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], "an embedded server is still running"


# --- starts that cannot succeed


async def test_failed_starts_name_the_setting(
    infrastructure: Infrastructure,
    database_url: str,
    tmp_path: Path,
    stop_all: list[ServiceProcess],
) -> None:
    bootstrap = infrastructure.kafka_bootstrap_servers
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    no_role = database_url.replace("postgresql://postgres@", "postgresql://nobody:s3cr3t-pw@")
    try:
        async with RefusingBroker() as refusing:
            sasl = {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "program-builder",
                "KAFKA_SASL_PASSWORD": "k4fka-s3cr3t",
            }
            cases = {
                # name: (command, environment, status, names in the last line)
                "port taken (run)": (
                    "run",
                    env(bootstrap, database_url, HTTP_PORT=port),
                    1,
                    ["HTTP_PORT", port],
                ),
                "port taken (dev)": (
                    "dev",
                    env(bootstrap, database_url, HTTP_PORT=port),
                    1,
                    ["HTTP_PORT", port, "HTTP_PORT=0", "HTTP_PORT=<n>"],
                ),
                "bad setting": (
                    "run",
                    env(bootstrap, database_url, HTTP_PORT="eighty"),
                    2,
                    ["HTTP_PORT"],
                ),
                "bad log level (dev)": (
                    "dev",
                    env(bootstrap, database_url, LOG_LEVEL="LOUD"),
                    2,
                    ["LOG_LEVEL"],
                ),
                "login refused (run, HTTP on)": (
                    "run",
                    env(bootstrap, no_role, HTTP_PORT=str(free_port())),
                    1,
                    ["DATABASE_URL", "nobody"],
                ),
                "login refused (migrate)": (
                    "migrate",
                    env(bootstrap, no_role),
                    1,
                    ["DATABASE_URL", "nobody"],
                ),
                "broker refuses the login": (
                    "run",
                    env(f"127.0.0.1:{refusing.port}", database_url, **sasl),
                    1,
                    ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"],
                ),
                "missing CA file": (
                    "run",
                    env(
                        bootstrap,
                        database_url,
                        KAFKA_SECURITY_PROTOCOL="SSL",
                        KAFKA_SSL_CAFILE="/nonexistent/ca.pem",
                    ),
                    1,
                    ["KAFKA_SSL_CAFILE"],
                ),
            }
            processes = {
                name: started(
                    stop_all,
                    ServiceProcess(
                        environment, tmp_path / f"{index}.log", command=command, cwd=tmp_path
                    ),
                )
                for index, (name, (command, environment, _, _)) in enumerate(cases.items())
            }
            ends = await asyncio.gather(*(p.exited(FAILED_START_LIMIT) for p in processes.values()))
    finally:
        taken.close()
    for (name, (_, _, status, names)), process, ended in zip(
        cases.items(), processes.values(), ends, strict=True
    ):
        line = assert_failed_start(process, ended, status, *names)
        print(f"{name}: status {ended.status} in {ended.seconds:.2f} s: {line}")
        for secret in ("s3cr3t-pw", "k4fka-s3cr3t"):
            assert secret not in process.output(), name
