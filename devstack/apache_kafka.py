"""Apache Kafka from Maven Central: the broker that `program-builder dev`, the tests and the bench
start when Java 17+ and Maven are on the machine.

The jars are those `tooling/kafka/pom.xml` pins (the broker and its logging binding), copied once
by Maven (`dependency:copy-dependencies`, from its own default repository) into a cache folder
outside the work tree. A cluster is one or more KRaft nodes, each a broker and a controller in
one JVM on loopback ports, formatted with one cluster id; it is ready when a metadata request
lists every node. Each JVM dies with its parent (PR_SET_PDEATHSIG): nothing is left behind.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from xml.etree import ElementTree

from devstack.children import die_with_parent, free_port, spawning, stop_child

MINIMUM_JAVA = 17
_CHECKOUT_POM = Path(__file__).resolve().parents[1] / "tooling" / "kafka" / "pom.xml"
_PACKAGED_POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
"""The wheel carries a copy of tooling/kafka/pom.xml (setup.py), so `dev` works from it too."""

_JVM_OPTIONS = [
    # As kafka-server-start.sh, with a smaller heap: a test broker holds little.
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot run here; the message says why in one line."""


def pom_path() -> Path:
    for candidate in (_CHECKOUT_POM, _PACKAGED_POM):
        if candidate.exists():
            return candidate
    raise KafkaUnavailable(f"no tooling/kafka/pom.xml beside the package ({_CHECKOUT_POM})")


def kafka_version(pom: Path | None = None) -> str:
    """The broker version the pom pins (`kafka.version`)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ElementTree.parse(pom or pom_path()).getroot()  # noqa: S314 - our own pom
    version = root.findtext("m:properties/m:kafka.version", namespaces=namespace)
    if not version:
        raise KafkaUnavailable("tooling/kafka/pom.xml names no kafka.version")
    return version


def java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major_version(java: str) -> int | None:
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def unavailable_reason() -> str | None:
    """Why Apache Kafka cannot run on this machine (None: it can): Java 17+ and Maven, or jars
    already in the cache, are what it needs."""
    java = java_executable()
    if java is None:
        return "no Java (java not on PATH, JAVA_HOME unset)"
    major = java_major_version(java)
    if major is None or major < MINIMUM_JAVA:
        return f"Java {major or '?'} at {java}; Apache Kafka 4 needs Java {MINIMUM_JAVA}+"
    try:
        jars = KafkaJars()
    except KafkaUnavailable as error:
        return str(error)
    if not jars.present() and shutil.which("mvn") is None:
        return "no Maven (mvn not on PATH) to fetch the Kafka jars"
    return None


ProgressCallback = Callable[[int, int], None]
"""Called with (files downloaded so far, bytes downloaded so far) while Maven fetches."""

_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \((\d+(?:\.\d+)?) (B|kB|MB)")
_UNITS = {"B": 1, "kB": 1000, "MB": 1000**2}


@dataclass
class KafkaJars:
    """The broker's jars in `~/.cache/program-builder/kafka-<version>-<pom digest>/`
    (`PB_KAFKA_CACHE` moves the cache), fetched by Maven the first time they are needed."""

    pom: Path = field(default_factory=pom_path)

    @property
    def version(self) -> str:
        return kafka_version(self.pom)

    @property
    def directory(self) -> Path:
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()[:10]
        return cache_root() / f"kafka-{self.version}-{digest}"

    def present(self) -> bool:
        return (self.directory / ".complete").exists()

    def ensure(self, progress: ProgressCallback | None = None) -> Path:
        """The folder of jars, fetched first if missing (one fetch at a time across processes)."""
        if self.present():
            return self.directory
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.present():
                self._fetch(progress)
        return self.directory

    def _fetch(self, progress: ProgressCallback | None) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaUnavailable("no Maven (mvn not on PATH) to fetch the Kafka jars")
        staging = Path(tempfile.mkdtemp(prefix=".fetching-", dir=cache_root()))
        command = [
            mvn,
            "--batch-mode",
            "--file",
            str(self.pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        lines: list[str] = []
        files = size = 0
        try:
            with subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ) as maven:
                assert maven.stdout is not None
                try:
                    for line in maven.stdout:
                        lines.append(line.rstrip())
                        downloaded = _DOWNLOADED.search(line)
                        if downloaded and progress is not None:
                            files += 1
                            size += int(float(downloaded.group(1)) * _UNITS[downloaded.group(2)])
                            progress(files, size)
                except BaseException:  # a stop signal too: Maven stops with us
                    maven.kill()
                    raise
            if maven.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
                errors = [line for line in lines if "[ERROR]" in line] or lines[-5:]
                raise KafkaUnavailable(
                    f"Maven could not fetch Apache Kafka {self.version} "
                    f"(exit {maven.returncode}): {' | '.join(errors[:3])}"
                )
            (staging / ".complete").write_text(self.version)
            staging.rename(self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def cache_root() -> Path:
    configured = os.environ.get("PB_KAFKA_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "program-builder"


def cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding, as `StorageTool
    random-uuid` prints (which avoids ids starting with '-', read as an option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def metadata_brokers(port: int, timeout: float = 2.0) -> int | None:
    """How many brokers a Metadata (v1) request to 127.0.0.1:`port` lists; None if nothing
    answers it (yet)."""
    response = _request(port, 3, 1, struct.pack(">i", 0), timeout)  # no topics
    return None if response is None else int(struct.unpack(">i", response[:4])[0])


def group_coordinator_ready(port: int, timeout: float = 2.0) -> bool:
    """Whether a FindCoordinator (v1) request for a group is answered without error. The first
    one creates the offsets topic; until it is ready, every client's first group join logs
    GroupCoordinatorNotAvailable."""
    key = b"program-builder-ready"
    response = _request(port, 10, 1, struct.pack(">h", len(key)) + key + b"\x00", timeout)
    return response is not None and struct.unpack(">h", response[4:6])[0] == 0


def _request(port: int, api_key: int, version: int, body: bytes, timeout: float) -> bytes | None:
    """One request to 127.0.0.1:`port` (header v1): the response after its correlation id, or
    None if nothing answers it."""
    client = b"program-builder"
    header = struct.pack(">hhih", api_key, version, 1, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(struct.pack(">i", len(header + body)) + header + body)
            size = struct.unpack(">i", _receive(connection, 4))[0]
            response = _receive(connection, size)
    except (OSError, struct.error, ConnectionError):
        return None
    correlation = struct.unpack(">i", response[:4])[0]
    return response[4:] if correlation == 1 else None


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed before the whole response")
        data += chunk
    return data


@dataclass
class Listener:
    """A client listener beside the PLAINTEXT one: `name` with its `protocol` on `port`."""

    name: str
    protocol: str
    port: int = field(default_factory=free_port)


@dataclass
class KafkaNode:
    """One JVM: a broker and a controller, its data and logs in `directory`."""

    node_id: int
    directory: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    advertised_port: int | None = None
    listeners: list[Listener] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "logs" / "server.log"

    def properties(self, voters: str, extra: dict[str, str]) -> dict[str, str]:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        advertised = [f"PLAINTEXT://127.0.0.1:{self.advertised_port or self.port}"]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        for listener in self.listeners:
            listeners.append(f"{listener.name}://127.0.0.1:{listener.port}")
            advertised.append(f"{listener.name}://127.0.0.1:{listener.port}")
            protocols.append(f"{listener.name}:{listener.protocol}")
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
            "advertised.listeners": ",".join(advertised),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.directory / "data"),
            **extra,
        }

    def write_configuration(self, voters: str, extra: dict[str, str]) -> Path:
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        properties = self.directory / "server.properties"
        lines = [f"{key}={value}" for key, value in self.properties(voters, extra).items()]
        properties.write_text("\n".join(lines) + "\n")
        (self.directory / "log4j2.properties").write_text(_log_configuration(self.log))
        return properties

    def formatted(self) -> bool:
        return (self.directory / "data" / "meta.properties").exists()

    def java_command(self, jars: Path, main: str, *arguments: str) -> list[str]:
        java = java_executable()
        if java is None:
            raise KafkaUnavailable("no Java (java not on PATH, JAVA_HOME unset)")
        return [
            java,
            *_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.directory / 'logs'}",
            "-cp",
            f"{jars}/*",
            main,
            *arguments,
        ]

    def start(self, jars: Path) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        command = self.java_command(jars, "kafka.Kafka", str(self.directory / "server.properties"))
        self.process = _spawn(command, self.directory / "logs" / "stdout.log")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after `timeout`."""
        stop_child(self.process, signal.SIGTERM, timeout)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, characters: int = 3000) -> str:
        for path in (self.log, self.directory / "logs" / "stdout.log"):
            if path.exists() and path.stat().st_size:
                return path.read_text(errors="replace")[-characters:]
        return ""


def _spawn(command: list[str], output: Path) -> subprocess.Popen[bytes]:
    """`command` in its own session, dying with this process, its output appended to `output`;
    a stop signal is delivered once the handle exists (`children.spawning`)."""
    with spawning(), open(output, "ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent,  # noqa: PLW1509
            start_new_session=True,
        )


def _listener(spec: str) -> Listener:
    name, protocol = spec.split(":", 1)
    return Listener(name, protocol)


def _log_configuration(log: Path) -> str:
    return "\n".join(
        [
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {log}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            # Per-request and state-change chatter: as the release's own configuration.
            "logger.request.name = kafka.request.logger",
            "logger.request.level = WARN",
            "logger.state.name = state.change.logger",
            "logger.state.level = WARN",
            "",
        ]
    )


@dataclass
class ApacheKafka:
    """A KRaft cluster of `nodes` JVMs on loopback (one by default), in `root` (a scratch folder
    removed on `stop` unless `keep_data`). Internal topics are replicated to every node, up to
    three, with `min.insync.replicas` one less (at least one)."""

    root: Path | None = None
    nodes: int = 1
    keep_data: bool = False
    advertised_ports: list[int] | None = None
    """Where clients are told to connect, per node, when not its port (a proxy in front)."""
    ports: list[int] | None = None
    """The client port of each node (free ones when None)."""
    listeners: list[str] = field(default_factory=list)
    """Extra client listeners as `NAME:PROTOCOL` (e.g. `SASL:SASL_PLAINTEXT`), one port each."""
    properties: dict[str, str] = field(default_factory=dict)
    """Broker settings on top of the defaults (security, topic defaults)."""
    scram_users: dict[str, str] = field(default_factory=dict)
    """SCRAM-SHA-512 users (name: password) written into the metadata when formatting."""
    members: list[KafkaNode] = field(init=False)
    jars: Path | None = None

    def __post_init__(self) -> None:
        self._owns_root = self.root is None
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="apache-kafka-"))
        advertised: list[int | None] = [None] * self.nodes
        if self.advertised_ports:
            advertised = [*self.advertised_ports]
        self.members = [
            KafkaNode(
                node_id=n + 1,
                directory=self.root / f"node-{n + 1}",
                port=self.ports[n] if self.ports else free_port(),
                advertised_port=advertised[n],
                listeners=[_listener(spec) for spec in self.listeners],
            )
            for n in range(self.nodes)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{node.advertised_port or node.port}" for node in self.members)

    @property
    def port(self) -> int:
        """The first node's client port (where a proxy in front of it connects)."""
        return self.members[0].port

    def listener_servers(self, name: str) -> str:
        """The bootstrap servers of the extra listener `name`."""
        return ",".join(
            f"127.0.0.1:{listener.port}"
            for node in self.members
            for listener in node.listeners
            if listener.name == name
        )

    idempotent = True
    """Apache Kafka has the idempotent producer (Tansu has not)."""

    def settings_description(self) -> str:
        version = kafka_version()
        return f"Apache Kafka {version} (Maven Central), KRaft, {self.nodes} node(s), on disk"

    def _defaults(self) -> dict[str, str]:
        replicas = min(self.nodes, 3)
        in_sync = str(max(1, replicas - 1))
        return {
            "num.partitions": "4",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": str(replicas),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": in_sync,
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": "0",
            # Tests fail over in seconds (session timeouts of 2-3 s); Kafka's floor is 6 s.
            "group.min.session.timeout.ms": "1000",
            "auto.create.topics.enable": "true",
            # A test or dev broker: keep the disk small and the shutdown quick.
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.retention.hours": "24",
            "controlled.shutdown.enable": "true",
        }

    def start(self, progress: ProgressCallback | None = None, timeout: float = 90) -> Self:
        """Fetch the jars if needed, format the nodes not yet formatted, start every node and
        wait until a metadata request lists them all. On failure nothing stays running."""
        try:
            self.jars = KafkaJars().ensure(progress)
            voters = ",".join(
                f"{node.node_id}@127.0.0.1:{node.controller_port}" for node in self.members
            )
            extra = self._defaults() | self.properties
            for node in self.members:
                node.write_configuration(voters, extra)
            self._format([node for node in self.members if not node.formatted()])
            for node in self.members:
                node.start(self.jars)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _format(self, nodes: list[KafkaNode]) -> None:
        if not nodes:
            return
        assert self.jars is not None
        cluster = self._cluster_id()
        formats: list[tuple[KafkaNode, subprocess.Popen[bytes]]] = []
        try:  # concurrently: each is a JVM start of ~1.5 s
            for node in nodes:
                command = node.java_command(
                    self.jars,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    cluster,
                    "--config",
                    str(node.directory / "server.properties"),
                    "--ignore-formatted",
                    *self._scram_arguments(),
                )
                formats.append((node, _spawn(command, node.directory / "logs" / "format.log")))
            for node, formatting in formats:
                if formatting.wait() != 0:
                    output = (node.directory / "logs" / "format.log").read_text(errors="replace")
                    raise KafkaUnavailable(
                        f"formatting Kafka node {node.node_id} failed: {output.strip()[-500:]}"
                    )
        except BaseException:  # a stop signal too: no JVM left formatting
            for _, formatting in formats:
                formatting.kill()
                formatting.wait()
            raise

    def _scram_arguments(self) -> list[str]:
        arguments = []
        for name, password in self.scram_users.items():
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return arguments

    def _cluster_id(self) -> str:
        assert self.root is not None
        path = self.root / "cluster-id"
        if not path.exists():
            path.write_text(cluster_id())
        return path.read_text().strip()

    def wait_ready(self, timeout: float = 90, nodes: list[KafkaNode] | None = None) -> None:
        """Until each of `nodes` (all by default) answers a metadata request listing every
        running node, and groups have a coordinator."""
        waiting = nodes or [node for node in self.members if node.process is not None]
        expected = sum(1 for node in self.members if node.alive())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in waiting:
                if node.process is not None and node.process.poll() is not None:
                    raise KafkaUnavailable(
                        f"Kafka node {node.node_id} exited with {node.process.returncode}:\n"
                        f"{node.tail()}"
                    )
            if all((metadata_brokers(node.port) or 0) >= expected for node in waiting) and (
                group_coordinator_ready(waiting[0].port)
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"Apache Kafka not ready after {timeout} s; node logs under {self.root}:\n"
            f"{waiting[0].tail()}"
        )

    def stop(self) -> None:
        """Stop every node (SIGTERM: a controlled shutdown), then remove the scratch folder
        unless `keep_data`. Nodes stop one after another, so that each still finds a controller
        quorum to hand its partitions to; the last of several cannot (it would wait 30 s for
        one), so it gets a few seconds before SIGKILL."""
        running = [node for node in self.members if node.alive()]
        for position, node in enumerate(running):
            last_of_several = len(running) > 1 and position == len(running) - 1
            node.stop(timeout=3 if last_of_several else 30)
        for node in self.members:
            node.kill()
        if self._owns_root and not self.keep_data and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> list[int]:
        """The process ids of the running nodes (the bench reads their CPU)."""
        return [node.process.pid for node in self.members if node.process and node.alive()]
