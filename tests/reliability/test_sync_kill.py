"""A `program.sync` of a large copy, SIGKILLed while its transaction is open: all of it or none.

A template of 30 sessions, 8 exercises each, 12 weeks (2 880 prescriptions) is imported, copied
(`program.copy`) and then changed everywhere (a `batch` of `series.replace` + `series.progress`
per exercise), so that a sync from week 0 rewrites every prescription of the copy. The sync is
sent to a service process; the test polls PostgreSQL until a backend of that process holds the
copy's `programs` row in an open transaction (the row's `xmax` is the `backend_xid` of a live
backend that is `active` or `idle in transaction`, and whose transaction began after the send)
that has begun writing the copy's prescriptions (it holds `RowExclusiveLock` on
`prescriptions`): the middle of the sync, its decision made, part of its writes sent, nothing
committed. Then it SIGKILLs the process group. Once the killed process's backends are gone
(PostgreSQL has finished with them), and before any restart, the copy's stored state (its
program row, sessions, groups, exercises, prescriptions, inbox rows, kept versions, and the
outbox rows written since the send) must be exactly the state before the sync (none of it) or
exactly the state after it (all of it); the inbox holds at most one row for the sync's
commandId. A new process must then answer the redelivered sync exactly once, `applied`, and
leave the copy in the state after the sync.

The state after the sync comes from a reference: a second service process, left alone, on its
own database and topics, fed the very same command documents (same commandIds, so the same
derived ids, versions and event keys). Its copy is then comparable row by row with the killed
run's, and the comparison also checks that the killed run's copy before the sync equals the
reference's. A second copy in the same database would get other ids (`uuid5` of another
commandId) and need a mapping that could hide a mistake; running the sync undisturbed first in
the killed run's own database would leave nothing to kill.

If the sync commits before the test sees it writing (or the commit wins the race with the
kill), the template is changed again and another sync is tried, at most `ATTEMPTS` times; at
least one attempt must kill the process mid-transaction."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.clients.client import Document
from service.storage.database import Connection
from tests.support.infrastructure import Infrastructure
from tests.support.programs import new_id
from tests.support.runs import ServiceRun

pytestmark = pytest.mark.reliability

SESSIONS = 30
GROUP_SIZES = (1, 2, 1, 1, 2, 1)  # 6 groups, 8 exercises per session (two supersets)
WEEKS = 12
SETS = 4
OPERATIONS_PER_BATCH = 160  # two per exercise: 80 exercises per batch command
ATTEMPTS = 5
TEST_APPLICATION = "sync-kill-test"  # the test's own connections, told apart from the service's
CATALOG = [new_id() for _ in range(8)]


class Run(ServiceRun):
    """One service process at a time on its own topics and database, a reader of everything it
    publishes, and the test's connections to its database."""

    def __init__(
        self, infrastructure: Infrastructure, database_url: str, logs: Path, name: str
    ) -> None:
        bootstrap = infrastructure.kafka_bootstrap_servers
        super().__init__(bootstrap, database_url, logs / f"{name}.log", f"kill-{name}")
        self.reader = self.client()
        self.pool: asyncpg.Pool | None = None

    async def begin(self) -> None:
        self.start()  # creates the topics
        await self.reader.start()
        self.pool = await asyncpg.create_pool(
            self.database_url,
            min_size=1,
            max_size=3,
            server_settings={"application_name": TEST_APPLICATION},
        )

    @property
    def database(self) -> asyncpg.Pool:
        assert self.pool is not None
        return self.pool

    async def end(self) -> None:
        for process in self.processes:
            if process.alive():
                process.kill()
        await self.reader.stop()
        if self.pool is not None:
            await self.pool.close()

    async def copy_state(self, program_id: str, outbox_after: int) -> dict[str, Any]:
        return await copy_state(self.database, program_id, outbox_after, self.prefix)

    async def outbox_mark(self) -> int:
        mark: int = await self.database.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        return mark


@pytest.fixture
async def runs(
    infrastructure: Infrastructure,
    new_database: Callable[[], Awaitable[str]],
    tmp_path: Path,
) -> AsyncIterator[tuple[Run, Run]]:
    """(reference, killed): two runs started side by side, each on a database of its own."""
    reference = Run(infrastructure, await new_database(), tmp_path, "reference")
    killed = Run(infrastructure, await new_database(), tmp_path, "killed")
    try:
        await asyncio.gather(reference.begin(), killed.begin())
        yield reference, killed
    finally:
        await asyncio.gather(reference.end(), killed.end())


# --- the copy's stored state, comparable across databases


_ROWS = {
    "program": "SELECT to_jsonb(t) - 'created_at' - 'updated_at' FROM programs t WHERE id = $1",
    "sessions": "SELECT to_jsonb(t) FROM sessions t WHERE program_id = $1 ORDER BY id",
    "groups": "SELECT to_jsonb(t) FROM exercise_groups t WHERE program_id = $1 ORDER BY id",
    "exercises": "SELECT to_jsonb(t) FROM program_exercises t WHERE program_id = $1 ORDER BY id",
    "prescriptions": "SELECT to_jsonb(t) FROM prescriptions t WHERE program_id = $1 ORDER BY id",
    "inbox": """SELECT to_jsonb(t) - 'processed_at' FROM inbox t WHERE program_id = $1
                ORDER BY command_id""",
    "history": """SELECT to_jsonb(t) FROM program_history t WHERE program_id = $1
                  ORDER BY version""",
}


async def copy_state(
    pool: asyncpg.Pool, program_id: str, outbox_after: int, prefix: str
) -> dict[str, Any]:
    """Every stored row of one program (all columns, but its timestamps), its inbox rows and
    kept versions, and the outbox rows written after `outbox_after` in order (topic without
    the run's prefix, key, value without `occurredAt`/`processedAt`, header names): one
    snapshot, read in one REPEATABLE READ transaction."""
    state: dict[str, Any] = {}
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        for table, query in _ROWS.items():
            state[table] = [row[0] for row in await connection.fetch(query, uuid.UUID(program_id))]
        state["outbox"] = [
            (
                row["topic"].removeprefix(prefix),
                None if row["key"] is None else bytes(row["key"]),
                timeless(row["value"]),
                tuple(row["header_names"]),
            )
            for row in await connection.fetch(
                """SELECT topic, key, value, header_names FROM outbox WHERE id > $1
                   ORDER BY id""",
                outbox_after,
            )
        ]
    return state


def timeless(value: bytes | None) -> Any:
    if value is None:
        return None
    document = json.loads(value)
    return {k: v for k, v in document.items() if k not in ("occurredAt", "processedAt")}


def difference(got: dict[str, Any], expected: dict[str, Any]) -> str:
    """Which parts of two states differ and by how many rows, for assertion messages."""
    parts = []
    for part, rows in expected.items():
        if got[part] != rows:
            same = len([row for row in got[part] if row in rows])
            parts.append(f"{part}: {len(got[part])} rows, {same} as expected of {len(rows)}")
    return "; ".join(parts) or "none"


# --- the template and its changes


def sets(reps: int, load: float) -> list[dict[str, Any]]:
    return [
        {"reps": reps, "load": {"value": load, "unit": "kg"}, "restSeconds": 120}
        for _ in range(SETS)
    ]


def template_snapshot() -> tuple[dict[str, Any], list[str]]:
    """A v1 `program.import` snapshot of the large template (week 0 only) and its exercises."""
    exercises: list[str] = []
    sessions = []
    for day in range(SESSIONS):
        groups = []
        for size in GROUP_SIZES:
            members = []
            for _ in range(size):
                exercise = new_id()
                members.append(
                    {
                        "programExerciseId": exercise,
                        "exerciseId": CATALOG[len(exercises) % len(CATALOG)],
                        "name": f"Exercise {len(exercises) + 1}",
                        "prescriptions": [{"week": 0, "series": sets(5, 60 + day)}],
                    }
                )
                exercises.append(exercise)
            groups.append({"groupId": new_id(), "exercises": members})
        sessions.append({"sessionId": new_id(), "name": f"Day {day + 1}", "groups": groups})
    snapshot = {"format": "v1", "name": "Large template", "weeks": WEEKS, "sessions": sessions}
    return snapshot, exercises


def rewrite(exercises: list[str], round_: int) -> list[list[dict[str, Any]]]:
    """Batches that give every exercise of the template a new week 0 and a new progression over
    weeks 1..11: every one of its prescriptions differs from the previous round's."""
    operations: list[dict[str, Any]] = []
    for index, exercise in enumerate(exercises):
        operations += [
            {
                "type": "series.replace",
                "programExerciseId": exercise,
                "week": 0,
                "series": sets(3 + round_ % 4, 40 + index % 50 + round_),
            },
            {
                "type": "series.progress",
                "programExerciseId": exercise,
                "fromWeek": 0,
                "toWeeks": list(range(1, WEEKS)),
                "step": {"load": 2.5 + 0.5 * round_},
            },
        ]
    return [
        operations[at : at + OPERATIONS_PER_BATCH]
        for at in range(0, len(operations), OPERATIONS_PER_BATCH)
    ]


async def on_both(reference: Run, killed: Run, command: Document, timeout: float = 60) -> int:
    """The same command document applied by both runs (each waits for its result): the version."""
    results = await asyncio.gather(
        reference.reader.request(command, timeout), killed.reader.request(command, timeout)
    )
    for result in results:
        assert result["status"] == "applied", result
    assert results[0]["programVersion"] == results[1]["programVersion"], results
    version: int = results[0]["programVersion"]
    return version


# --- catching the sync's transaction


# The backend whose open transaction locked the program's row (a row lock leaves the locker's
# xid in the row's xmax; a committed or rolled-back transaction's xid is no backend's any more),
# once that transaction writes prescriptions, with the tables it has written so far.
_HOLDER = """
SELECT a.pid, a.state, a.xact_start,
       array(SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
             WHERE l.pid = a.pid AND l.mode = 'RowExclusiveLock' AND l.granted
               AND c.relkind = 'r'
             ORDER BY 1) AS writing
FROM programs p JOIN pg_stat_activity a ON a.backend_xid = p.xmax
WHERE p.id = $1 AND a.xact_start IS NOT NULL AND a.xact_start >= $2
  AND a.state IN ('active', 'idle in transaction')
  AND EXISTS (SELECT FROM pg_locks l
              WHERE l.pid = a.pid AND l.relation = 'prescriptions'::regclass
                AND l.mode = 'RowExclusiveLock' AND l.granted)
"""


async def wait_for_open_transaction(
    connection: Connection, program_id: str, command_id: str, sent_at: Any
) -> asyncpg.Record | None:
    """Poll (no pause between queries) until a backend holds the program's row in a transaction
    that began after `sent_at` and is writing prescriptions (returns its pid, state, start and
    the tables it wrote), or the command is in the inbox, committed (returns None)."""
    program, command = uuid.UUID(program_id), uuid.UUID(command_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        holder = await connection.fetchrow(_HOLDER, program, sent_at)
        if holder is not None:
            return holder
        if await connection.fetchval("SELECT count(*) FROM inbox WHERE command_id = $1", command):
            return None
    raise AssertionError(f"the sync {command_id} neither opened a transaction nor committed")


async def wait_backends_gone(connection: Connection) -> None:
    """Until no backend of the killed process is left: PostgreSQL has rolled back (or
    committed) whatever it was doing."""
    deadline = time.monotonic() + 30
    while await connection.fetchval(
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND backend_type = 'client backend'
             AND application_name IS DISTINCT FROM $1""",
        TEST_APPLICATION,
    ):
        assert time.monotonic() < deadline, "the killed process's backends are still there"
        await asyncio.sleep(0.02)


# --- the test


async def test_a_sigkill_during_a_large_sync_leaves_all_of_it_or_none(
    runs: tuple[Run, Run],
) -> None:
    started = time.monotonic()
    reference, killed = runs
    template, copy = new_id(), new_id()

    snapshot, exercises = template_snapshot()
    command = reference.reader.command("program.import", template, program=snapshot)
    assert len(json.dumps(command)) < 256 * 1024
    await on_both(reference, killed, command)
    for operations in rewrite(exercises, 0):
        batch = reference.reader.command("batch", template, operations=operations)
        await on_both(reference, killed, batch)
    copy_command = reference.reader.command("program.copy", template, newProgramId=copy)
    await on_both(reference, killed, copy_command)
    prescriptions = await killed.database.fetchval(
        "SELECT count(*) FROM prescriptions WHERE program_id = $1", uuid.UUID(copy)
    )
    assert prescriptions == SESSIONS * sum(GROUP_SIZES) * WEEKS
    built = time.monotonic() - started

    caught_at: int | None = None
    tries: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        for operations in rewrite(exercises, attempt):
            batch = reference.reader.command("batch", template, operations=operations)
            await on_both(reference, killed, batch)
        sync = reference.reader.command("program.sync", copy)
        sync_id = sync["commandId"]

        # The reference: the state before and after the sync, applied undisturbed.
        reference_mark = await reference.outbox_mark()
        reference_before = await reference.copy_state(copy, reference_mark)
        reference_result = await reference.reader.request(sync, 60)
        assert reference_result["status"] == "applied", reference_result
        assert {s["state"] for s in reference_result["sync"]["sessions"]} == {"synced"}
        after = await reference.copy_state(copy, reference_mark)
        assert len(after["outbox"]) > prescriptions  # one event per prescription, and more

        # The killed run: the same state before the sync; then the sync, killed while open.
        mark = await killed.outbox_mark()
        before = await killed.copy_state(copy, mark)
        assert before == reference_before, difference(before, reference_before)
        assert before != after
        process = killed.processes[-1]
        async with killed.database.acquire() as connection:
            sent_at = await connection.fetchval("SELECT clock_timestamp()")
            await killed.reader.send(sync)
            sent = time.monotonic()
            holder = await wait_for_open_transaction(connection, copy, sync_id, sent_at)
            if holder is not None:
                process.kill()
                seen = (
                    f"{holder['state']}, writing {', '.join(holder['writing'])}, "
                    f"{time.monotonic() - sent:.3f} s after the send"
                )
                await wait_backends_gone(connection)

                # Right after the kill, before any restart: all of it or none.
                state = await killed.copy_state(copy, mark)
                assert state in (before, after), (
                    f"a mix after the kill: against none {difference(state, before)}; "
                    f"against all {difference(state, after)}"
                )
                rows = await connection.fetchval(
                    "SELECT count(*) FROM inbox WHERE command_id = $1", uuid.UUID(sync_id)
                )
                assert rows == (0 if state == before else 1)
                mid_transaction = state == before
                tries.append(f"{'none' if mid_transaction else 'all'} after a kill ({seen})")
                killed.start()
            else:
                mid_transaction = False
                tries.append("committed before its transaction was seen")

        # Answered exactly once, applied, and the copy as the reference left it.
        result = await killed.reader.result(sync_id, 60)
        await killed.reader.wait_consumed(killed.database, 60, all_sent=True)
        copies = killed.reader.result_copies[sync_id]
        assert [r["status"] for r in copies if r["status"] != "duplicate"] == ["applied"], copies
        if mid_transaction:
            assert copies == [result], copies  # nothing of it was committed before the kill
        for answer in copies:  # a duplicate repeats the first outcome and its report
            assert answer["programVersion"] == reference_result["programVersion"], answer
            assert answer["sync"] == reference_result["sync"], answer
        final = await killed.copy_state(copy, mark)
        assert final == after, difference(final, after)
        if mid_transaction:
            caught_at = attempt
            break

    print(  # the figures for the report (pytest -s)
        f"\nsync kill: {prescriptions} prescriptions in the copy, built in {built:.1f} s; "
        f"{len(tries)} attempt(s): {'; '.join(tries)}; {time.monotonic() - started:.1f} s in all"
    )
    assert caught_at is not None, f"never killed a sync mid-transaction in {ATTEMPTS}: {tries}"
    for run in runs:
        assert run.processes[-1].terminate() == 0, run.output()
