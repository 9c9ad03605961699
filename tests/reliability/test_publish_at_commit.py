"""The fast path killed between commit and publish: a batch committed, its outbox rows not yet
sent (`tests.support.crash_points`, `after_commit`). The next process must publish them (its relay
sweeps), answer the redelivered commands `duplicate`, and every key's records stay in commit
order: each prescription's versions arrive increasing, the crashed batch's before any later."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.support.runs import RunFactory

pytestmark = pytest.mark.reliability


async def test_a_crash_between_commit_and_publish_loses_and_reorders_nothing(
    service_run: RunFactory, database_url: str
) -> None:
    run = service_run("rel-fast", RELAY_POLL_INTERVAL_SECONDS="0.2")
    reader = run.client()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    program, session, exercise = (str(uuid.uuid4()) for _ in range(3))
    first = run.start()
    try:
        await reader.start()
        await reader.applied("program.create", program, name="Block", weeks=1)
        await reader.applied("session.add", program, sessionId=session, name="Day 1")
        await reader.applied(
            "exercise.add",
            program,
            sessionId=session,
            programExerciseId=exercise,
            exerciseId=str(uuid.uuid4()),
            name="Squat",
            series=[{"reps": 5, "restSeconds": 120}],
        )
        assert first.terminate() == 0, run.output()

        crashing = run.start(crash_at="after_commit")
        edit = reader.command(
            "series.update",
            program,
            programExerciseId=exercise,
            index=0,
            set={"reps": 3, "restSeconds": 120},
        )
        await reader.send(edit)
        status = await crashing.exited(60)
        assert status.status == -9, f"killed itself after the commit: {status}"
        committed = await pool.fetchval(
            "SELECT status FROM inbox WHERE command_id = $1", uuid.UUID(edit["commandId"])
        )
        assert committed == "applied", "the batch committed before the crash point"
        unsent = await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        assert unsent >= 2, "its result and event were not published"
        assert edit["commandId"] not in reader.result_copies

        second = run.start()
        try:
            later = await reader.applied(
                "series.update",
                program,
                programExerciseId=exercise,
                index=0,
                set={"reps": 1, "restSeconds": 120},
            )
            await reader.wait_consumed(pool, 60, all_sent=True)
        finally:
            assert second.terminate() == 0, run.output()
        outcomes = [r["status"] for r in reader.result_copies[edit["commandId"]]]
        assert outcomes[0] == "applied" and set(outcomes[1:]) <= {"duplicate"}, outcomes
        versions = [e["version"] for e in reader.prescription_events()]
        assert versions == sorted(versions), f"per-key order: {versions}"
        assert len(versions) == len(set(versions)), "each event once (no republish here)"
        last = reader.prescription_events()[-1]
        assert last["causationId"] == later["commandId"]
        assert [s["reps"] for s in last["series"]] == [1]
    finally:
        await reader.stop()
        await pool.close()
