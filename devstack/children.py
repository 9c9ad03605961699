"""Child processes of the local stack: spawned so that a stop signal cannot lose one, made to die
with their parent (PR_SET_PDEATHSIG), and stopped or killed whole, so an interrupted run leaves
nothing behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before opening port {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a child is spawned: a stop arriving then is delivered once
    the caller holds the child's handle and can stop it, not halfway through `Popen` (which
    would leave the child running, unknown). The child unblocks them (`unblock_stop_signals`)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def die_with_parent() -> None:
    unblock_stop_signals()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_to_end(command: list[str], *, check: bool, user: str | None = None) -> int:
    """Run `command` to its end and return its status (with `check`, raise if it failed, its
    output attached). An interruption (a stop signal raising KeyboardInterrupt) kills the child
    and everything it started (initdb's bootstrap backend would go on writing into the data
    directory being removed) and waits for them to be gone before propagating."""
    child: subprocess.Popen[bytes] | None = None
    try:
        with spawning():
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                user=user,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=unblock_stop_signals,  # noqa: PLW1509  (only unblocks the stop signals)
            )
        output, _ = child.communicate()
    except BaseException:
        if child is not None:
            kill_group(child)
        raise
    finally:
        if child is not None and child.stdout is not None:
            child.stdout.close()
    if check and child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command, output)
    return child.returncode


def kill_group(child: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """Kill `child`'s process group and wait until none of it runs (zombies left for init to
    reap do not count: they write nothing)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + timeout
    while running_in_group(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def running_in_group(group: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False


def stop_child(
    process: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float
) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
