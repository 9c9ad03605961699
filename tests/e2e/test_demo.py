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
    assert text.count("applied") == 29, text
    assert "29 results" in text
    # v1.2: Sam's copy after her new max, the deload: 150 kg x 90 % x 70 % = 94.5 -> 95 kg
    assert "3x 5 @ 70 %1RM (= 95 kg)" in text
    assert "superset emom x10" in text  # the circuit after the bench press left it
    assert "week 5 (deload)" in text  # the weeks side by side, labelled
    assert "warmup 5 @ 62.5 kg" in text  # the squat progressed
    assert "10 per side" in text
    assert "3x 10-12 RIR 2 31X0 · 90 s" in text  # the rep-range progression, week 1
    assert "import a legacy program" in text and "and delete it again" in text
    assert "Cable row" not in text  # the deleted program is gone from the latest state
