"""The service as another process: the `program-builder` console script started, signalled, timed
and killed by tests (and by the bench), as an operator or an orchestrator would, and its readiness
probe read."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

SCRIPT = Path(sys.executable).with_name("program-builder")


@dataclass(frozen=True)
class Exit:
    """How a process ended: its status and the seconds from the signal (or start) to its end."""

    status: int
    seconds: float


@dataclass
class ServiceProcess:
    """`program-builder <command>` in its own process group, with stdout and stderr in `log`."""

    env: dict[str, str]
    log: Path
    command: str = "run"
    cwd: Path | None = None
    program: tuple[str, ...] = (str(SCRIPT),)
    """What runs `command`: the console script, or a wrapper of it (tests.support.crash_points)."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    signalled_at: int = 0
    """Where the output stood when the last signal was sent."""

    def start(self) -> None:
        output = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [*self.program, self.command],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        output.close()
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def readiness(self) -> int:
        """The status of `/readyz` on the process's HTTP_PORT (0: nothing answers)."""
        url = f"http://127.0.0.1:{self.env['HTTP_PORT']}/readyz"
        try:
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    async def wait_readiness(self, status: int = 204, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (current := await self.readiness()) != status:
            assert asyncio.get_running_loop().time() < deadline, f"/readyz {current}, not {status}"
            await asyncio.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        """Every process started under this one (the embedded servers of `dev`, say)."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    async def wait_for(self, text: str, timeout: float) -> None:
        """Until `text` is in the output; fails if the process ends or the time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            status = self.process.poll() if self.process else None
            assert status is None, f"exited {status} before {text!r}:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r}:\n{self.output()[-3000:]}"
            await asyncio.sleep(0.05)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> Exit:
        """Send `sig` and time the exit (measured by polling, so stops can run side by side)."""
        assert self.process is not None
        self.signalled_at = len(self.output())
        sent = time.monotonic()
        self.process.send_signal(sig)
        return await self._ended(sent, timeout)

    async def exited(self, timeout: float = 20) -> Exit:
        """The exit of a process expected to end by itself (a failed start), timed from now."""
        return await self._ended(time.monotonic(), timeout)

    async def _ended(self, since: float, timeout: float) -> Exit:
        assert self.process is not None
        while (status := self.process.poll()) is None:
            if time.monotonic() - since > timeout:
                self.kill()
                raise AssertionError(f"still running {timeout} s later:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.02)
        return Exit(status, time.monotonic() - since)

    def group_left(self) -> list[int]:
        """Processes still in this process's group after it ended (should be none)."""
        return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == self.pid]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def service_env(bootstrap: str, database_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "TOPIC_PREFIX": prefix,
        "CONSUMER_GROUP": prefix,
        "HTTP_PORT": "0",
        "LOG_LEVEL": "WARNING",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "RELAY_POLL_INTERVAL_SECONDS": "0.25",
        **extra,
    }
