"""The outbox (claimed per lane in commit order, never twice at once, never when rolled back) and
the inbox (first outcome per command id)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from service.storage import inbox, outbox
from service.storage.database import is_transient
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage, lane_of

pytestmark = pytest.mark.integration


def message(key: str, n: int, headers: tuple[tuple[str, bytes], ...] = ()) -> OutgoingMessage:
    return OutgoingMessage(
        "program-builder.prescription-updated", key.encode(), f"{n}".encode(), headers
    )


async def test_claim_returns_rows_in_commit_order_with_headers(
    connection: asyncpg.Connection,
) -> None:
    headers = (("correlation_id", b"\xff\x00"), ("x-error-code", b"too_large"))
    async with connection.transaction():
        await outbox.add(connection, [message("a", 1, headers), message("b", 2), message("a", 3)])
    async with connection.transaction():
        claimed = await outbox.claim(connection, 100)
    assert [c.message.value for c in claimed] == [b"1", b"2", b"3"]
    assert claimed[0].message.headers == headers
    assert [c.lane for c in claimed] == [lane_of(b"a"), lane_of(b"b"), lane_of(b"a")]


async def test_a_second_relay_skips_lanes_the_first_holds(
    connection: asyncpg.Connection, database_url: str
) -> None:
    keys = [f"key-{n}" for n in range(40)]
    async with connection.transaction():
        await outbox.add(connection, [message(key, n) for n, key in enumerate(keys)])
    other = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            first = await outbox.claim(connection, 10)
            async with other.transaction():
                second = await outbox.claim(other, 1000)
        assert first
        assert not {c.lane for c in first} & {c.lane for c in second}, "one relay per lane"
        assert not {c.id for c in first} & {c.id for c in second}
        # The first relay rolled back (a failed publish): its rows are claimable again.
        async with other.transaction():
            again = await outbox.claim(other, 1000)
        assert {c.id for c in first} <= {c.id for c in again}
    finally:
        await other.close()


async def test_mark_sent_backlog_and_prune(connection: asyncpg.Connection) -> None:
    async with connection.transaction():
        await outbox.add(connection, [message("a", n) for n in range(5)])
    pending, oldest = await outbox.backlog(connection)
    assert pending == 5 and oldest >= 0
    async with connection.transaction():
        claimed = await outbox.claim(connection, 3)
        await outbox.mark_sent(connection, [c.id for c in claimed])
    assert (await outbox.backlog(connection))[0] == 2
    async with connection.transaction():
        assert [c.message.value for c in await outbox.claim(connection, 10)] == [b"3", b"4"]
    assert await outbox.prune(connection, 3600, 100) == 0  # sent just now: kept
    await connection.execute(
        "UPDATE outbox SET sent_at = now() - interval '2 hours' WHERE sent_at IS NOT NULL"
    )
    assert await outbox.prune(connection, 3600, 100) == 3
    assert await connection.fetchval("SELECT count(*) FROM outbox") == 2


async def test_rolled_back_rows_are_never_claimable(connection: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError):
        async with connection.transaction():
            await outbox.add(connection, [message("a", 1)])
            raise RuntimeError("the command's transaction fails")
    async with connection.transaction():
        assert await outbox.claim(connection, 10) == []


async def test_inbox_keeps_the_first_outcome(connection: asyncpg.Connection) -> None:
    applied = InboxEntry(uuid.uuid4(), "series.add", uuid.uuid4(), "applied", 7, None)
    error = {"code": "not_found", "message": "no such program", "details": []}
    rejected = InboxEntry(uuid.uuid4(), "program.update", None, "rejected", None, error)
    async with connection.transaction():
        await inbox.record(connection, [applied, rejected])
    found = await inbox.find(connection, [applied.command_id, rejected.command_id, uuid.uuid4()])
    assert found == {applied.command_id: applied, rejected.command_id: rejected}
    with pytest.raises(asyncpg.UniqueViolationError):
        await inbox.record(connection, [applied])
    assert await inbox.prune(connection, 3600, 100) == 0
    await connection.execute("UPDATE inbox SET processed_at = now() - interval '2 hours'")
    assert await inbox.prune(connection, 3600, 1) == 1  # in chunks
    assert await inbox.prune(connection, 3600, 100) == 1


async def test_transient_errors_are_told_apart_from_the_datas_fault(
    connection: asyncpg.Connection, database_url: str
) -> None:
    entry = InboxEntry(uuid.uuid4(), "series.add", None, "applied", 1, None)
    await inbox.record(connection, [entry])
    with pytest.raises(asyncpg.UniqueViolationError) as unique:
        await inbox.record(connection, [entry])
    assert not is_transient(unique.value)

    # A real deadlock: two transactions lock two rows in opposite orders.
    other = await asyncpg.connect(database_url)
    a, b = uuid.uuid4(), uuid.uuid4()
    for program in (a, b):
        await connection.execute(
            "INSERT INTO programs (id, tenant_id, name, weeks, version)"
            " VALUES ($1, 't', 'P', 1, 1)",
            program,
        )
    errors: list[BaseException] = []

    async def lock(conn: asyncpg.Connection, first: uuid.UUID, second: uuid.UUID) -> None:
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM programs WHERE id = $1 FOR UPDATE", first)
                await asyncio.sleep(0.2)
                await conn.execute("SELECT 1 FROM programs WHERE id = $1 FOR UPDATE", second)
        except asyncpg.PostgresError as error:
            errors.append(error)

    try:
        await asyncio.gather(lock(connection, a, b), lock(other, b, a))
    finally:
        await other.close()
    assert len(errors) == 1 and isinstance(errors[0], asyncpg.DeadlockDetectedError)
    assert is_transient(errors[0])
    assert is_transient(ConnectionResetError())


async def test_a_committing_transaction_holds_its_lanes_past_the_commit(
    connection: asyncpg.Connection, database_url: str
) -> None:
    """The fast path: the lanes taken in the batch transaction stay taken after its commit,
    so the relay skips them until the rows are marked sent and the lanes freed."""
    relay = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            mine = [message("a", 1), message("b", 2), message("a", 3)]
            await outbox.add(connection, mine)
            claim = await outbox.claim_lanes(connection, mine)
        assert [c.message.value for c in claim.messages] == [b"1", b"2", b"3"]
        assert claim.lanes == sorted({lane_of(b"a"), lane_of(b"b")}) and claim.declined == 0
        async with relay.transaction():
            assert await outbox.claim(relay, 100) == [], "the lanes are held past the commit"
        await outbox.mark_sent_and_release(connection, [c.id for c in claim.messages], claim.lanes)
        async with connection.transaction():
            await outbox.add(connection, [message("a", 4)])
        async with relay.transaction():
            assert [c.message.value for c in await outbox.claim(relay, 100)] == [b"4"]
    finally:
        await relay.close()


async def test_the_fast_path_publishes_older_unsent_rows_of_its_lanes_first(
    connection: asyncpg.Connection,
) -> None:
    """Rows a crashed or failed publisher left in a lane come before the new ones (per-key
    order), and rows of other lanes are left to the relay."""
    async with connection.transaction():
        await outbox.add(connection, [message("a", 1), message("z", 2)])  # left unsent
    async with connection.transaction():
        mine = [message("a", 3)]
        await outbox.add(connection, mine)
        claim = await outbox.claim_lanes(connection, mine)
    assert [c.message.value for c in claim.messages] == [b"1", b"3"]
    assert lane_of(b"z") not in claim.lanes
    await outbox.release(connection, claim.lanes)


async def test_lanes_the_relay_holds_are_declined_and_left_to_it(
    connection: asyncpg.Connection, database_url: str
) -> None:
    relay = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await outbox.add(connection, [message("a", 1)])
        async with relay.transaction():
            swept = await outbox.claim(relay, 100)  # the relay holds lane(a)
            assert [c.message.value for c in swept] == [b"1"]
            async with connection.transaction():
                mine = [message("a", 2), message("b", 3)]
                await outbox.add(connection, mine)
                claim = await outbox.claim_lanes(connection, mine)
            assert claim.declined == (1 if lane_of(b"a") != lane_of(b"b") else 2)
            assert b"2" not in [c.message.value for c in claim.messages]
            await outbox.mark_sent(relay, [c.id for c in swept])
        await outbox.mark_sent_and_release(connection, [c.id for c in claim.messages], claim.lanes)
        async with relay.transaction():
            assert [c.message.value for c in await outbox.claim(relay, 100)] == [b"2"]
    finally:
        await relay.close()


async def test_lanes_of_a_rolled_back_batch_are_freed_when_its_connection_goes_back(
    database_url: str,
) -> None:
    """A batch transaction that fails after taking its lanes (a deferred constraint at the
    commit, say) holds them only until its pooled connection is released (the pool's reset
    unlocks all)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            with pytest.raises(RuntimeError):
                async with connection.transaction():
                    mine = [message("a", 1)]
                    await outbox.add(connection, mine)
                    await outbox.claim_lanes(connection, mine)
                    raise RuntimeError("the commit failed")
        async with pool.acquire() as connection:
            async with connection.transaction():
                await outbox.add(connection, [message("a", 2)])
            async with connection.transaction():
                claimed = await outbox.claim(connection, 100)
            assert [c.message.value for c in claimed] == [b"2"]
            held = await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            assert held == 0
    finally:
        await pool.close()


async def test_claims_read_the_unsent_index_by_plain_index_scans_only_while_claiming(
    connection: asyncpg.Connection,
) -> None:
    """A bitmap scan would visit every row marked sent since the last vacuum on each claim; the
    claims turn bitmap scans off for their own transaction only."""
    async with connection.transaction():
        mine = [message("a", 1)]
        await outbox.add(connection, mine)
        claim = await outbox.claim_lanes(connection, mine)
        assert await connection.fetchval("SHOW enable_bitmapscan") == "off"
        plan = await connection.fetch(
            "EXPLAIN SELECT id FROM outbox WHERE sent_at IS NULL AND lane = ANY($1::int[])",
            claim.lanes,
        )
        assert not any("Bitmap" in line for (line,) in plan)
    assert await connection.fetchval("SHOW enable_bitmapscan") == "on"
    await outbox.mark_sent_and_release(connection, [c.id for c in claim.messages], claim.lanes)
    async with connection.transaction():
        await outbox.claim(connection, 100)
        assert await connection.fetchval("SHOW enable_bitmapscan") == "off"
    assert await connection.fetchval("SHOW enable_bitmapscan") == "on"
