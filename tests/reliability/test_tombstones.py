"""A large program.delete with the process killed in the middle of publishing it: after a
restart, the last record of every key the program had, on every event topic, is its tombstone
(the deleted event before it), as a compacted topic needs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from contracts.topics import Topics
from tests.support.runs import RunFactory

pytestmark = pytest.mark.reliability

EXERCISES, WEEKS = 12, 40  # 480 prescriptions: ~1,000 outbox rows for the delete


def snapshot() -> dict[str, Any]:
    return {
        "name": "Big block",
        "weeks": WEEKS,
        "sessions": [
            {
                "sessionId": str(uuid.uuid4()),
                "name": f"Day {day}",
                "groups": [
                    {
                        "groupId": str(uuid.uuid4()),
                        "exercises": [
                            {
                                "programExerciseId": str(uuid.uuid4()),
                                "exerciseId": str(uuid.uuid4()),
                                "name": f"Lift {n}",
                                "prescriptions": [
                                    {"week": w, "series": [{"reps": 5, "restSeconds": 90}]}
                                    for w in range(WEEKS)
                                ],
                            }
                            for n in range(EXERCISES // 2)
                        ],
                    }
                ],
            }
            for day in (1, 2)
        ],
    }


async def test_a_delete_killed_mid_publish_ends_every_key_with_its_tombstone(
    service_run: RunFactory, database_url: str
) -> None:
    # Small relay rounds, so that publishing the delete takes many of them.
    run = service_run("rel-tomb", RELAY_BATCH_SIZE="20")
    first = run.start()
    reader = run.client()
    topics = reader.topics
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await reader.start()
        program = str(uuid.uuid4())
        imported = await reader.request(
            reader.command("program.import", program, program=snapshot()), timeout=60
        )
        assert imported["status"] == "applied", imported
        await reader.wait_consumed(pool, 120, all_sent=True)
        keys = {topic: set(reader.latest(topic)) for topic in event_topics(topics)}
        assert len(keys[topics.prescription_updated]) == EXERCISES * WEEKS
        marker = await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")

        await reader.send(reader.command("program.delete", program))
        progress = """SELECT count(*) FILTER (WHERE sent_at IS NULL),
                             count(*) FILTER (WHERE sent_at IS NOT NULL)
                      FROM outbox WHERE id > $1"""
        while True:  # kill once the delete is committed and partly published
            unsent, sent = await pool.fetchrow(progress, marker)
            if sent > 0:
                break
            await asyncio.sleep(0.002)
        first.kill()
        unsent, sent = await pool.fetchrow(progress, marker)
        assert unsent > 0 and sent > 0, f"killed mid-publish: {sent} sent, {unsent} left"

        second = run.start()
        try:
            await reader.wait_consumed(pool, 120, all_sent=True)
        finally:
            assert second.terminate() == 0, run.output()
        assert await pool.fetchval("SELECT count(*) FROM programs") == 0
        for topic, wanted in keys.items():
            last: dict[str, str] = {}
            for key, value in reader.events[topic]:
                assert key is not None
                last[key] = (
                    "tombstone" if value is None else "deleted" if value["deleted"] else "live"
                )
            assert {key: last[key] for key in wanted} == dict.fromkeys(wanted, "tombstone"), topic
            assert reader.latest(topic).keys().isdisjoint(wanted)
    finally:
        await reader.stop()
        await pool.close()


def event_topics(topics: Topics) -> list[str]:
    return [topics.prescription_updated, topics.session_updated, topics.program_updated]
