"""The batch pipeline's order, with a processor that applies batches when the test says: each
batch completes (its offsets commit) after the one before it, never when that one was given up,
and no more than two batches are in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from service.apply.outcomes import Outcome
from service.apply.wire import Record
from service.consume.pipeline import MAX_IN_FLIGHT, BatchInFlight, Pipeline
from service.process.context import InFlight
from service.retry import Stopped


@dataclass
class Batch:
    """A batch of the fake processor: decided at once, applied when `result` is set."""

    name: str
    result: asyncio.Future[str] = field(default_factory=asyncio.Future)


@dataclass
class GatedProcessor:
    """Applies each batch when its test sets its result (an outcome status, or raise it)."""

    batches: dict[str, Batch] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def batch(self, name: str) -> Batch:
        return self.batches.setdefault(name, Batch(name))

    async def process_overlapping(
        self,
        records: list[Record],
        stopping: asyncio.Event,
        before: BatchInFlight | None,
        decided: Callable[[frozenset[UUID] | None], None],
    ) -> list[Outcome]:
        name = records[0].topic
        self.started.append(name)
        decided(frozenset())
        status = await self.batch(name).result
        if status == "stopped":
            raise Stopped
        if status == "broken":
            raise RuntimeError("not transient, not one record's")
        return [Outcome(None, "", None, status, None, 0)]


def records(name: str) -> list[Record]:
    return [Record(name, 0, 0, None, b"{}")]


class Run:
    def __init__(self) -> None:
        self.processor = GatedProcessor()
        self.stopping = asyncio.Event()
        self.in_flight = InFlight()
        self.pipeline = Pipeline(self.processor, self.stopping, self.in_flight)  # type: ignore[arg-type]
        self.completed: list[str] = []

    async def submit(self, name: str) -> asyncio.Task[bool]:
        async def complete(outcomes: list[Outcome]) -> None:
            self.completed.append(name)

        return await self.pipeline.submit(records(name), complete)

    def apply(self, name: str, status: str = "applied") -> None:
        self.processor.batch(name).result.set_result(status)


async def test_a_batch_applied_first_still_completes_after_the_one_before_it() -> None:
    run = Run()
    one, two = await run.submit("one"), await run.submit("two")
    run.apply("two")
    await asyncio.sleep(0.05)
    assert run.completed == [] and not two.done()
    run.apply("one")
    assert await one and await two
    assert run.completed == ["one", "two"]
    await asyncio.wait_for(run.in_flight.wait_idle(), 1)


@pytest.mark.parametrize("given_up", ["stopped", "broken"])
async def test_after_a_batch_given_up_no_later_batch_completes(given_up: str) -> None:
    """An offset commit covers the records before it: once a batch is not committed, the later
    ones of its consumer are not either (they are redelivered, and answered duplicate)."""
    run = Run()
    one, two = await run.submit("one"), await run.submit("two")
    run.apply("two")
    run.apply("one", given_up)
    assert not await one and not await two
    assert run.completed == []
    assert run.stopping.is_set() == (given_up == "broken")


async def test_no_more_than_max_in_flight_batches_are_in_flight() -> None:
    run = Run()
    names = [f"b{n}" for n in range(MAX_IN_FLIGHT)]
    for name in names:
        await run.submit(name)
    extra = asyncio.ensure_future(run.submit("extra"))
    await asyncio.sleep(0.05)
    assert run.processor.started == names and not extra.done()
    run.apply(names[0])
    last = await asyncio.wait_for(extra, 1)
    assert run.processor.started == [*names, "extra"]
    for name in [*names[1:], "extra"]:
        run.apply(name)
    assert await last
    assert run.completed == [*names, "extra"]


async def test_a_stop_waits_for_every_batch_in_flight() -> None:
    run = Run()
    await run.submit("one")
    await run.submit("two")
    waiting = asyncio.ensure_future(run.in_flight.wait_idle())
    run.apply("one")
    await asyncio.sleep(0.05)
    assert not waiting.done(), "the second is still in flight"
    run.apply("two")
    await asyncio.wait_for(waiting, 1)


async def test_a_batch_that_syncs_or_reverts_overlaps_neither_neighbour() -> None:
    """A sync locks its copy's source and a revert brings ids back that no command names:
    a batch holding one names `EVERYTHING`, so it waits for the batch before it and the batch
    after it waits for it."""
    import json

    from contracts.parsing import parse_command
    from service.apply.unit_of_work import EVERYTHING, names_claimed
    from service.consume.pipeline import _BatchInFlight

    def parsed(kind: str, **fields: object) -> object:
        document = {
            "commandId": str(UUID(int=7)),
            "type": kind,
            "tenantId": "t",
            "programId": str(UUID(int=8)),
            **fields,
        }
        return parse_command(json.dumps(document).encode())

    assert EVERYTHING in names_claimed([parsed("program.sync")])  # type: ignore[list-item]
    assert EVERYTHING in names_claimed([parsed("program.revert", toVersion=1)])  # type: ignore[list-item]
    edit = names_claimed([parsed("program.update", name="x")])  # type: ignore[list-item]
    assert EVERYTHING not in edit

    syncing = _BatchInFlight(None)
    syncing.task = asyncio.get_running_loop().create_future()  # type: ignore[assignment]
    syncing.decided(frozenset({EVERYTHING, UUID(int=8)}))
    assert not await syncing.independent_of(frozenset({UUID(int=99)}))  # the batch after it
    editing = _BatchInFlight(None)
    editing.task = asyncio.get_running_loop().create_future()  # type: ignore[assignment]
    editing.decided(frozenset({UUID(int=99)}))
    assert not await editing.independent_of(frozenset({EVERYTHING}))  # the batch before it
    assert await editing.independent_of(frozenset({UUID(int=100)}))
