"""What the reliability tests share: a deterministic stream of mixed commands (chosen from the
state the domain core predicts, so most apply), a deadline wait, and snapshots of the database
to compare runs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from contracts.commands import Command
from service.domain.commands import Context, apply
from service.domain.errors import Rejection
from service.domain.model import Program

SCALE = float(os.environ.get("RELIABILITY_SCALE", "1"))
"""Multiplies the size of the long runs: `RELIABILITY_SCALE=10 make test` for a night run."""

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def scaled(count: int) -> int:
    return max(1, int(count * SCALE))


# --- the stream


class StreamBuilder:
    """A seeded stream of commands over many programs: every type of the contract, including
    rejections, duplicates (a commandId sent twice) and unreadable messages for the DLQ."""

    def __init__(self, seed: int, tenant: str = "tenant-r") -> None:
        self.rng = random.Random(seed)
        self.tenant = tenant
        self.programs: dict[uuid.UUID, Program | None] = {}
        self.taken: set[uuid.UUID] = set()
        self.messages: list[tuple[bytes, bytes]] = []  # (key, value) in send order
        self.command_ids: list[str] = []
        self.expected: dict[str, str] = {}  # commandId -> what the domain core decides

    def build(self, count: int, programs: int) -> list[tuple[bytes, bytes]]:
        ids = [self._uuid() for _ in range(programs)]
        for program_id in ids:
            self.programs[program_id] = None
        while len(self.messages) < count:
            program_id = self.rng.choice(ids)
            roll = self.rng.random()
            if roll < 0.01 and self.command_ids:
                self._duplicate()
            elif roll < 0.015:
                self._unreadable(program_id)
            else:
                self._send(self._choose(program_id))
        return self.messages

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _duplicate(self) -> None:
        key, value = self.messages[self.rng.randrange(len(self.messages))]
        if b"commandId" in value:
            self.messages.append((key, value))

    def _unreadable(self, program_id: uuid.UUID) -> None:
        value = self.rng.choice([b"{not json", b"[1, 2]", b'{"type": "program.update"}'])
        self.messages.append((str(program_id).encode(), value))

    def _send(self, document: dict[str, Any]) -> None:
        command_id = str(self._uuid())
        document = {"commandId": command_id, "tenantId": self.tenant, **document}
        value = json.dumps(document, default=str).encode()
        self.messages.append((document["programId"].encode(), value))
        self.command_ids.append(command_id)
        program_id = uuid.UUID(document["programId"])
        self.expected[command_id] = "rejected"
        try:
            command = COMMANDS.validate_json(value)
        except ValueError:
            return
        try:
            applied = apply(
                self.programs[program_id], command, Context(NOW, self.taken.__contains__)
            )
        except Rejection:
            return
        self.expected[command_id] = "applied"
        self.programs[program_id] = applied.program
        self.taken |= _ids_of(applied.program)

    def _choose(self, program_id: uuid.UUID) -> dict[str, Any]:
        rng = self.rng
        program = self.programs[program_id]
        base: dict[str, Any] = {"programId": str(program_id)}
        if program is None:
            return base | {"type": "program.create", "name": "Block", "weeks": 3}
        sessions = program.sessions
        exercises = [(s, g, e) for s in sessions for g in s.groups for e in g.exercises]
        roll = rng.random()
        if not sessions or (roll < 0.04 and len(sessions) < 4):
            return base | {"type": "session.add", "sessionId": str(self._uuid()), "name": "Day"}
        if len(exercises) < 3 or roll < 0.1:
            session = rng.choice(sessions)
            body: dict[str, Any] = {
                "type": "exercise.add",
                "sessionId": str(session.id),
                "programExerciseId": str(self._uuid()),
                "exerciseId": str(self._uuid()),
                "name": "Lift",
                "series": [{"reps": rng.randint(1, 10)}] * rng.randint(0, 3),
            }
            if session.groups and rng.random() < 0.3:
                body["groupId"] = str(rng.choice(session.groups).id)
            return base | body
        session, group, exercise = rng.choice(exercises)
        pe = str(exercise.id)
        week = rng.randrange(program.weeks)
        if roll < 0.12:
            return base | {"type": "exercise.remove", "programExerciseId": pe}
        if roll < 0.2:
            _, target, _ = rng.choice(exercises)
            return base | {
                "type": "exercise.move",
                "programExerciseId": pe,
                "toGroupId": str(target.id),
            }
        if roll < 0.24:
            return base | {
                "type": "exercise.move",
                "programExerciseId": pe,
                "toSessionId": str(rng.choice(sessions).id),
                "toNewGroupAt": 0,
            }
        if roll < 0.28:
            members = [str(e.id) for e in session.exercises()]
            if len(members) >= 2:
                return base | {
                    "type": "exercises.group",
                    "sessionId": str(session.id),
                    "programExerciseIds": rng.sample(members, min(len(members), 3)),
                }
        if roll < 0.3:
            return base | {"type": "group.ungroup", "groupId": str(group.id)}
        if roll < 0.32:
            order = [str(g.id) for g in session.groups]
            rng.shuffle(order)
            return base | {
                "type": "groups.reorder",
                "sessionId": str(session.id),
                "groupIds": order,
            }
        if roll < 0.34:
            return base | {
                "type": "group.update",
                "groupId": str(group.id),
                "rounds": rng.randint(1, 5),
            }
        if roll < 0.35 and len(sessions) < 4:
            return base | {
                "type": "session.copy",
                "sessionId": str(session.id),
                "newSessionId": str(self._uuid()),
            }
        if roll < 0.36 and len(sessions) > 1:
            return base | {"type": "session.remove", "sessionId": str(session.id)}
        if roll < 0.39:
            return base | {
                "type": "batch",
                "operations": [
                    {"type": "series.add", "programExerciseId": pe, "set": {"reps": 3}},
                    {
                        "type": "series.update",
                        "programExerciseId": pe,
                        "index": 0,
                        "set": {"rir": 1},
                    },
                ],
            }
        if roll < 0.4:
            return base | {"type": "program.republish"}
        if roll < 0.42:
            return base | {
                "type": "program.update",
                "name": "Renamed",
                "expectedVersion": rng.randint(1, program.version + 1),
            }
        if roll < 0.7:
            series = [{"reps": rng.randint(1, 12), "restSeconds": 90}] * rng.randint(0, 4)
            return base | {
                "type": "series.replace",
                "programExerciseId": pe,
                "week": week,
                "series": series,
            }
        if roll < 0.8:
            return base | {
                "type": "series.add",
                "programExerciseId": pe,
                "week": week,
                "set": {"reps": 5},
            }
        if roll < 0.88:
            return base | {
                "type": "series.update",
                "programExerciseId": pe,
                "week": week,
                "index": rng.randint(0, 2),
                "set": {"rpe": 8},
            }
        if roll < 0.94:
            return base | {
                "type": "series.remove",
                "programExerciseId": pe,
                "week": week,
                "index": rng.randint(0, 2),
            }
        return base | {
            "type": "series.move",
            "programExerciseId": pe,
            "week": week,
            "from": rng.randint(0, 2),
            "to": rng.randint(0, 2),
        }


def _ids_of(program: Program) -> set[uuid.UUID]:
    ids = {program.id}
    for session in program.sessions:
        ids.add(session.id)
        for group in session.groups:
            ids.add(group.id)
            ids |= {e.id for e in group.exercises}
    return ids


# --- waiting and comparing


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


# --- the database, comparable across runs


async def database_state(pool: asyncpg.Pool) -> dict[str, Any]:
    return {
        "programs": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT id, tenant_id, name, weeks, version FROM programs ORDER BY id"
            )
        ],
        "sessions": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT id, program_id, name, order_index FROM sessions ORDER BY id"
            )
        ],
        "groups": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, session_id, order_index, rounds, rest_between_rounds_seconds, notes
                   FROM exercise_groups ORDER BY id"""
            )
        ],
        "exercises": [
            tuple(r)
            for r in await pool.fetch(
                """SELECT id, session_id, group_id, order_within_group, exercise_id, name
                   FROM program_exercises ORDER BY id"""
            )
        ],
        "prescriptions": [
            (r["id"], r["program_exercise_id"], r["week"], r["version"], json.dumps(r["series"]))
            for r in await pool.fetch(
                """SELECT id, program_exercise_id, week, version, series
                   FROM prescriptions ORDER BY id"""
            )
        ],
        "inbox": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT command_id, status, program_version FROM inbox ORDER BY command_id"
            )
        ],
    }
