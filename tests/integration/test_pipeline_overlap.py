"""The batch pipeline on real PostgreSQL: a batch is decided while the one before it is still
uncommitted only when the two name nothing in common, and either way each batch ends exactly as
if the batches had been applied one after the other.

The batch before is held uncommitted by another transaction holding the inbox row of its
command (its insert waits for that lock), so "still uncommitted" is a state the test controls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from service.apply.outcomes import Outcome
from service.apply.processor import CommandProcessor
from service.consume.pipeline import Overlap, Pipeline
from service.process.context import InFlight
from tests.integration.test_processor import TOPICS, command, outbox, record, results

pytestmark = pytest.mark.integration

HELD_SECONDS = 0.5
"""How long a test keeps the first batch from committing (what the second must not wait for)."""


@pytest.fixture
def processor(pool: asyncpg.Pool) -> CommandProcessor:
    from service.apply.wire import Messages

    return CommandProcessor(pool, Messages(TOPICS))


@asynccontextmanager
async def inbox_row_held(pool: asyncpg.Pool, command_id: str) -> AsyncIterator[None]:
    """Until the block ends, a transaction holds an uncommitted inbox row for `command_id`: a
    batch recording that command waits for it (then, rolled back, the batch goes on)."""
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(
            "INSERT INTO inbox (command_id, command_type, status) VALUES ($1, 'held', 'applied')",
            uuid.UUID(command_id),
        )
        try:
            yield
        finally:
            await transaction.rollback()


class Completions:
    """The `complete` of each batch, in the order the pipeline calls them."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.outcomes: dict[str, list[Outcome]] = {}

    def of(self, name: str) -> Callable[[list[Outcome]], Any]:
        async def complete(outcomes: list[Outcome]) -> None:
            self.order.append(name)
            self.outcomes[name] = outcomes

        return complete


async def versions(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT id, version FROM programs")
    return {str(row["id"]): row["version"] for row in rows}


async def test_independent_batches_are_decided_before_the_one_before_commits(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    create_first = command("program.create", first, name="First")
    create_second = command("program.create", second, name="Second")
    pipeline, done = Pipeline(Overlap(processor), asyncio.Event(), InFlight()), Completions()
    async with inbox_row_held(pool, create_first["commandId"]):
        one = await pipeline.submit([record(create_first, 0)], done.of("first"))
        # decided while the first is held: the second names nothing of it
        two = await asyncio.wait_for(
            pipeline.submit([record(create_second, 1)], done.of("second")), HELD_SECONDS
        )
        await asyncio.sleep(HELD_SECONDS)
        assert not one.done() and not two.done(), "the second commits after the first only"
        assert await versions(pool) == {}
    assert await one and await two
    assert done.order == ["first", "second"]
    assert await versions(pool) == {first: 1, second: 1}


async def test_a_batch_naming_a_program_of_the_batch_before_waits_for_its_commit(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    """Decided ahead, the update would have found no program (its create not committed yet)."""
    program = str(uuid.uuid4())
    create = command("program.create", program, name="Block")
    rename = command("program.update", program, name="Renamed")
    pipeline, done = Pipeline(Overlap(processor), asyncio.Event(), InFlight()), Completions()
    async with inbox_row_held(pool, create["commandId"]):
        one = await pipeline.submit([record(create, 0)], done.of("create"))
        second = asyncio.ensure_future(pipeline.submit([record(rename, 1)], done.of("rename")))
        await asyncio.sleep(HELD_SECONDS)
        assert not second.done(), "the rename is not decided before the create commits"
    two = await second
    assert await one and await two
    assert [o.status for o in done.outcomes["rename"]] == ["applied"]
    assert await versions(pool) == {program: 2}
    assert results(await outbox(pool))[rename["commandId"]]["status"] == "applied"


async def test_an_id_both_batches_create_is_a_conflict_for_the_second_as_in_turn(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    """Two programs, one session id: the second batch must see the first one's session (taken)."""
    session = str(uuid.uuid4())
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    commands = [
        command("program.create", first, name="First"),
        command("session.add", first, sessionId=session, name="Day 1"),
    ]
    other = [
        command("program.create", second, name="Second"),
        command("session.add", second, sessionId=session, name="Day 1"),
    ]
    pipeline, done = Pipeline(Overlap(processor), asyncio.Event(), InFlight()), Completions()
    async with inbox_row_held(pool, commands[0]["commandId"]):
        one = await pipeline.submit(
            [record(c, n) for n, c in enumerate(commands)], done.of("first")
        )
        second_submit = asyncio.ensure_future(
            pipeline.submit([record(c, 2 + n) for n, c in enumerate(other)], done.of("second"))
        )
        await asyncio.sleep(HELD_SECONDS)
        assert not second_submit.done(), "the second names the first's session: it waits"
    assert await one and await (await second_submit)
    answers = results(await outbox(pool))
    assert answers[other[1]["commandId"]]["status"] == "rejected"
    assert answers[other[1]["commandId"]]["error"]["code"] == "conflict"
    assert [o.status for o in done.outcomes["first"]] == ["applied", "applied"]


async def test_a_batch_that_fails_ahead_is_applied_in_turn_a_record_at_a_time(
    processor: CommandProcessor, pool: asyncpg.Pool
) -> None:
    """The first attempt breaks a constraint at its write (its commandId is already in the inbox,
    committed after it was read): rolled back, the batch goes through `process`, where that
    record is answered from the inbox and the others apply."""
    program = str(uuid.uuid4())
    create = command("program.create", program, name="Block")
    late = command("program.create", str(uuid.uuid4()), name="Raced")
    pipeline, done = Pipeline(Overlap(processor), asyncio.Event(), InFlight()), Completions()
    async with pool.acquire() as racer:
        held = racer.transaction()
        await held.start()
        await racer.execute(
            "INSERT INTO inbox (command_id, command_type, status, tenant_id)"
            " VALUES ($1, 'program.create', 'applied', 't')",
            uuid.UUID(late["commandId"]),
        )
        one = await pipeline.submit([record(create, 0), record(late, 1)], done.of("batch"))
        await held.commit()  # another instance recorded `late` meanwhile
    assert await one
    assert [o.status for o in done.outcomes["batch"]] == ["applied", "duplicate"]
    assert await versions(pool) == {program: 1}
    assert results(await outbox(pool))[create["commandId"]]["status"] == "applied"


class _BatchBefore:
    """A batch before, already done: committed (`completed`) or given up, naming `names`."""

    def __init__(self, completed: bool, names: frozenset[uuid.UUID]) -> None:
        self.completed = completed
        self.names = names

    async def independent_of(self, names: frozenset[uuid.UUID]) -> bool:
        return self.names.isdisjoint(names)

    async def done(self) -> None:
        return None


@pytest.mark.parametrize("shares_the_program", [True, False])
async def test_a_batch_after_one_given_up_gives_up_too_whether_or_not_they_share_names(
    processor: CommandProcessor, pool: asyncpg.Pool, shares_the_program: bool
) -> None:
    """The batch before was given up at a stop (it will be redelivered). A batch that names what
    it names must not commit ahead of it: redelivered, its commands would be applied after this
    one's, out of order. One that shares nothing may commit (its own offsets stay uncommitted
    behind the given-up batch, `Pipeline`); whichever way, none is applied out of order."""
    from service.retry import Stopped

    program = str(uuid.uuid4())
    rename = command("program.update", program, name="Renamed")
    await processor.process(
        [record(command("program.create", program, name="P"), 0)], asyncio.Event()
    )
    names = frozenset({uuid.UUID(program)}) if shares_the_program else frozenset()
    given_up = _BatchBefore(completed=False, names=names)
    if shares_the_program:
        with pytest.raises(Stopped):
            await Overlap(processor).process_overlapping(
                [record(rename, 1)], asyncio.Event(), given_up, lambda names: None
            )
        assert await versions(pool) == {program: 1}, "nothing of it was committed"
    else:
        outcomes = await Overlap(processor).process_overlapping(
            [record(rename, 1)], asyncio.Event(), given_up, lambda names: None
        )
        assert [o.status for o in outcomes] == ["applied"]
        assert await versions(pool) == {program: 2}
    completed = _BatchBefore(completed=True, names=names)
    again = command("program.update", program, name="Again")
    outcomes = await Overlap(processor).process_overlapping(
        [record(again, 2)], asyncio.Event(), completed, lambda names: None
    )
    assert [o.status for o in outcomes] == ["applied"]
