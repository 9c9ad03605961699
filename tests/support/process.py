"""The service as another process: `program-builder run` started, signalled and killed by tests
(and by the bench), and its readiness probe read."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServiceProcess:
    """`program-builder run` in its own process group, so SIGKILL takes it down at once."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        script = Path(sys.executable).with_name("program-builder")
        self.process = subprocess.Popen(
            [str(script), "run"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - owned by the child
            start_new_session=True,
        )
        self.starts += 1

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


def service_env(bootstrap: str, database_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "TOPIC_PREFIX": prefix,
        "CONSUMER_GROUP": prefix,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "HTTP_PORT": "0",
        "LOG_LEVEL": "WARNING",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "RELAY_POLL_INTERVAL_SECONDS": "0.25",
        **extra,
    }
