"""What the bench sends: seeded programs, the series and editor edit mixes, the legacy import."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.floor import CONSUMER, POLL, PRODUCER
from contracts.topics import Topics
from service.clients.client import ServiceClient
from tests.support.legacy_programs import import_line, prescriptions_of


@dataclass
class Program:
    id: str
    session: str
    exercises: list[str]


class Driver(ServiceClient):
    """Produces commands and matches results/events back to them, timestamped on arrival."""

    def __init__(self, bootstrap: str, topics: Topics, tenant: str = "bench") -> None:
        super().__init__(
            topics,
            {"bootstrap_servers": bootstrap},
            tenant_id=tenant,
            follow=[topics.command_results, topics.prescription_updated],
            producer=PRODUCER,
            consumer=CONSUMER,
            poll=POLL,
            topic_timeout=120,
        )
        self.sent_at: dict[str, float] = {}  # commandId -> scheduled send time
        self.result_at: dict[str, float] = {}
        self.event_at: dict[str, float] = {}  # causationId -> first event
        self.statuses: dict[str, str] = {}
        # commandId -> seconds from the result record's timestamp (the service's producer stamps
        # it when it sends) to its arrival here: the outbound hop, on the wall clock.
        self.result_hop: dict[str, float] = {}

    def received(self, record: Any, value: dict[str, Any] | None, arrived: float) -> None:
        """Only arrival times and statuses, never the documents themselves."""
        if value is None:
            return
        if record.topic == self.topics.command_results:
            self.result_at.setdefault(value["commandId"], arrived)
            self.result_hop.setdefault(value["commandId"], time.time() - record.timestamp / 1000)
            self.statuses.setdefault(value["commandId"], value["status"])
        else:
            self.event_at.setdefault(value["causationId"], arrived)

    async def submit(
        self, kind: str, program: str, scheduled: float | None = None, **fields: Any
    ) -> str:
        command = self.command(kind, program, **fields)
        command_id: str = command["commandId"]
        self.sent_at[command_id] = scheduled if scheduled is not None else time.perf_counter()
        await self.enqueue(command)
        return command_id

    async def wait_results(
        self, ids: list[str], timeout: float, progress: tqdm | None = None
    ) -> None:
        deadline = time.perf_counter() + timeout
        pending = [i for i in ids if i not in self.result_at]
        if progress is not None:
            progress.update(len(ids) - len(pending))
        while pending and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            still = [i for i in pending if i not in self.result_at]
            if progress is not None:
                progress.update(len(pending) - len(still))
            pending = still
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(ids)} results missing after {timeout} s")

    def forget(self) -> None:
        """Drop what was matched so far (a long soak keeps the driver's memory flat)."""
        for matched in (
            self.sent_at,
            self.result_at,
            self.event_at,
            self.statuses,
            self.result_hop,
        ):
            matched.clear()


def series_edit(rng: random.Random, program: Program) -> tuple[str, dict[str, Any]]:
    return "series.update", {
        "programExerciseId": rng.choice(program.exercises),
        "index": 0,
        "set": {
            "reps": rng.randint(1, 12),
            "rpe": rng.choice([7, 7.5, 8, 8.5, 9]),
            "restSeconds": 120,
        },
    }


def editor_edit(rng: random.Random, program: Program) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.7:
        return series_edit(rng, program)
    if roll < 0.9:
        series = [
            {
                "reps": rng.randint(3, 10),
                "load": {"value": rng.randint(40, 160), "unit": "kg"},
                "restSeconds": 90,
            }
            for _ in range(rng.randint(3, 5))
        ]
        return "series.replace", {
            "programExerciseId": rng.choice(program.exercises),
            "series": series,
        }
    return "exercise.move", {
        "programExerciseId": rng.choice(program.exercises),
        "toNewGroupAt": rng.randint(0, len(program.exercises) - 1),
    }


MIXES: dict[str, Callable[[random.Random, Program], tuple[str, dict[str, Any]]]] = {
    "series": series_edit,
    "editor": editor_edit,
}


async def seed(driver: Driver, count: int, exercises: int) -> list[Program]:
    programs = []
    ids = []
    for _ in tqdm(range(count), desc="seeding programs", unit="prog", leave=False):
        program = Program(
            str(uuid.uuid4()), str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(exercises)]
        )
        programs.append(program)
        ids.append(await driver.submit("program.create", program.id, name="Bench block", weeks=4))
        ids.append(
            await driver.submit("session.add", program.id, sessionId=program.session, name="Day 1")
        )
        for n, exercise in enumerate(program.exercises):
            ids.append(
                await driver.submit(
                    "exercise.add",
                    program.id,
                    sessionId=program.session,
                    programExerciseId=exercise,
                    exerciseId=str(uuid.uuid4()),
                    name=f"Exercise {n}",
                    series=[{"reps": 5, "load": {"value": 100, "unit": "kg"}, "restSeconds": 180}]
                    * 4,
                )
            )
    await driver.flush()
    await driver.wait_results(ids, 300)
    bad = [i for i in ids if driver.statuses.get(i) != "applied"]
    if bad:
        raise RuntimeError(f"seeding failed for {len(bad)} commands")
    return programs


def legacy_file(path: Path, count: int, seed: int) -> int:
    """`count` legacy programs as the import's JSON Lines; returns their prescriptions."""
    rng = random.Random(seed)
    prescriptions = 0
    with path.open("w") as file:
        for _ in range(count):
            line = import_line(rng, "bench-legacy")
            prescriptions += prescriptions_of(line["program"])
            file.write(json.dumps(line) + "\n")
    return prescriptions
