"""Bounded growth: under a steady load the retention job keeps the inbox and the outbox at what
the retention windows hold, not at everything ever processed (sized down to seconds here; the
defaults are 1 day for sent outbox rows and 7 days for the inbox)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.config import Settings
from service.process.app import Service
from tests.support.kafka import CommandClient
from tests.support.programs import build_program
from tests.support.scale import scaled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.reliability


@pytest.fixture
async def short_retention(settings: Settings) -> AsyncIterator[Settings]:
    local = settings.model_copy(
        update={
            "outbox_retention_seconds": 1,
            "inbox_retention_seconds": 2,
            "retention_interval_seconds": 0.5,
        }
    )
    app = Service(local).app
    await app.start()
    try:
        yield local
    finally:
        await app.stop()


async def test_inbox_and_outbox_stay_bounded_under_load(
    short_retention: Settings, pool: asyncpg.Pool
) -> None:
    settings = short_retention
    async with CommandClient(settings) as client:
        ids = [await build_program(client) for _ in range(5)]
        waves, per_wave = 8, scaled(1000)
        sizes: list[tuple[int, int]] = []
        for wave in range(waves):
            messages = [
                (
                    program["program"].encode(),
                    (
                        f'{{"commandId": "{uuid.uuid4()}", "type": "series.replace", '
                        f'"tenantId": "tenant-a", "programId": "{program["program"]}", '
                        f'"programExerciseId": "{program["squat"]}", '
                        f'"series": [{{"reps": {wave}}}]}}'
                    ).encode(),
                )
                for n in range(per_wave)
                for program in [ids[n % len(ids)]]
            ]
            await client.publish_all(messages)
            await asyncio.sleep(1)
            sizes.append(
                (
                    await pool.fetchval("SELECT count(*) FROM outbox"),
                    await pool.fetchval("SELECT count(*) FROM inbox"),
                )
            )
    total_rows = waves * per_wave * 2  # a result and an event per command
    peak_outbox = max(outbox for outbox, _ in sizes)
    peak_inbox = max(inbox for _, inbox in sizes)
    print(f"\nretention: {waves * per_wave} commands, (outbox, inbox) per second: {sizes}")
    assert peak_outbox < total_rows / 2, sizes
    assert peak_inbox < waves * per_wave / 2, sizes

    async def drained() -> bool:
        return (
            await pool.fetchval("SELECT count(*) FROM outbox")
            + await pool.fetchval("SELECT count(*) FROM inbox")
        ) == 0

    done = False

    async def poll() -> None:
        nonlocal done
        while not done:
            done = await drained()
            await asyncio.sleep(0.2)

    poller = asyncio.create_task(poll())
    await wait_until(lambda: done, 15, "both tables pruned to empty once idle")
    await poller
