"""`program-builder demo` as a newcomer runs it: the real console script against the running
service on the real broker; every step is applied and the events are printed."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from service.config import Settings
from service.process.app import Service


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
    assert text.count("applied") == 38, text
    assert "38 results" in text
    # The preview and the sync of Sam's copy (day 1 takes the RDL's new week 2; day 2 is
    # as the block has it; her heavy day is her own), then its undo.
    assert "applied (dry): synced 1, unchanged 1" in text
    assert "applied: synced 1, unchanged 1" in text
    # Sam's copy after her new max, the deload: 150 kg x 90 % x 70 % = 94.5 -> 95 kg
    assert "3x 5 @ 70 %1RM (= 95 kg)" in text
    assert "superset emom x10" in text  # the circuit after the bench press left it
    assert "week 5 (deload)" in text  # the weeks side by side, labelled
    assert "warmup 5 @ 62.5 kg" in text  # the squat progressed
    assert "10 per side" in text
    assert "3x 10-12 RIR 2 31X0 · 90 s" in text  # the rep-range progression, week 1
    # Sam's heavy day on Fridays (week 2 moved to Saturday), her top single at RPE 8 from
    # her 150 kg max: 92.2 % = 138.3 -> 137.5 kg; triples at RIR 2: 86.3 % = 129.45 -> 130 kg;
    # warm-ups of 137.5: 55, 82.5, 103.125 -> 102.5, 116.875 -> 117.5.
    # Week 2 at RPE 8.5: 93.9 % = 140.85 -> 140; week 3 at RPE 9: 95.5 % = 143.25 -> 142.5.
    assert "warm-up 5 @ 55, 3 @ 82.5, 2 @ 102.5," in text  # the table wraps the rest
    for day, single in (("2027-01-08", "137.5"), ("2027-01-16", "140"), ("2027-01-22", "142.5")):
        row = rf"│ {day} │[^\n]*\n[^\n]*→ 1 \(= {single} kg\) RPE"  # the cell wraps once
        assert re.search(row, text), (day, text)
    assert "import a legacy program" in text and "and delete it again" in text
    assert "Cable row" not in text  # the deleted program is gone from the latest state
