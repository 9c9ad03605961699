"""`program-builder demo` as a newcomer runs it: the real console script against the running
service on the real broker; every step is applied and the events are printed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from service.config import Settings
from service.entrypoints.app import Service


async def test_demo_runs_against_the_service_and_exits_0(
    service: Service, settings: Settings
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
    }
    script = Path(sys.executable).with_name("program-builder")
    process = await asyncio.create_subprocess_exec(
        str(script),
        "demo",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text
    assert text.count("applied") == 19, text
    assert "19 results" in text
    assert "superset x3" in text  # the circuit after the bench press left it
    assert "3x 10-12 RIR 2 31X0 · 90 s" in text  # the rep-range progression, week 1
    assert "Cable row" in text  # the legacy import
