"""Tenant isolation through the real broker and PostgreSQL: every command type sent by another
tenant for an existing program, or naming another tenant's entity from its own program, is
`not_found` (with the words used for a program that does not exist) and changes nothing; no
event of one tenant carries another's data."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from contracts.commands import COMMAND_TYPES
from tests.support.kafka import CommandClient
from tests.support.programs import build_program, new_id

pytestmark = pytest.mark.reliability


def bodies(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A well-formed body of every command type naming the entities in `ids`."""
    squat = {"programExerciseId": ids["squat"]}
    return {
        "program.create": {"name": "Mine now"},
        "program.update": {"name": "Mine now"},
        "program.import": {"program": {"name": "Mine now", "sessions": []}},
        "program.republish": {},
        "session.add": {"sessionId": new_id(), "name": "Day 9"},
        "session.remove": {"sessionId": ids["session"]},
        "session.copy": {"sessionId": ids["session"], "newSessionId": new_id()},
        "exercise.add": {
            "sessionId": ids["session"],
            "programExerciseId": new_id(),
            "exerciseId": new_id(),
            "name": "Curl",
            "groupId": ids["group"],
        },
        "exercise.remove": squat,
        "exercise.move": {**squat, "toGroupId": ids["group"]},
        "exercises.group": {
            "sessionId": ids["session"],
            "programExerciseIds": [ids["squat"], ids["row"]],
        },
        "group.ungroup": {"groupId": ids["group"]},
        "groups.reorder": {"sessionId": ids["session"], "groupIds": [ids["group"]]},
        "group.update": {"groupId": ids["group"], "rounds": 3},
        "series.replace": {**squat, "series": [{"reps": 1}]},
        "series.add": {**squat, "set": {"reps": 1}},
        "series.update": {**squat, "index": 0, "set": {"reps": 1}},
        "series.remove": {**squat, "index": 0},
        "series.move": {**squat, "from": 0, "to": 0},
        "batch": {"operations": [{"type": "series.remove", **squat, "index": 0}]},
        "week.copy": {"fromWeek": 0, "toWeeks": [1], "sessionId": ids["session"]},
        "week.insert": {"at": 0},
        "week.remove": {"week": 0},
        "series.progress": {**squat, "toWeeks": [1], "step": {"load": 1}},
        "program.copy": {"newProgramId": new_id()},
        "program.delete": {},
        "program.assign": {"athlete": {"athleteId": "athlete-of-b"}},
        "program.unassign": {},
        "maxes.set": {"maxes": [{"exerciseId": new_id(), "value": 100, "unit": "kg"}]},
        "exercise.update": {**squat, "notes": "Mine now"},
        "program.schedule": {"startDate": "2027-01-04"},
        "session.update": {"sessionId": ids["session"], "dayOffset": 2},
        "session.reschedule": {"sessionId": ids["session"], "week": 0, "date": "2027-01-05"},
        "program.sync": {"dryRun": True},
        "program.revert": {"toVersion": 1},
    }


async def everything(pool: asyncpg.Pool) -> list[Any]:
    return [
        await pool.fetch(f"SELECT * FROM {table} ORDER BY 1")
        for table in ("programs", "sessions", "exercise_groups", "program_exercises")
    ] + [await pool.fetch("SELECT id, version, series FROM prescriptions ORDER BY id")]


async def test_another_tenant_gets_not_found_for_every_command_and_changes_nothing(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    victim = await build_program(client)

    def intruder(kind: str, program_id: str, /, **body: Any) -> dict[str, Any]:
        return client.command(kind, program_id, **body) | {"tenantId": "tenant-b"}

    await client.wait_consumed(pool)
    before = await everything(pool)
    missing = await client.run("program.update", new_id(), name="x")
    sent: list[str] = []

    # 1. Another tenant names the victim's program.
    cases = bodies(victim)
    assert set(cases) == COMMAND_TYPES, "every command type is tried"
    for kind, body in cases.items():
        command = intruder(kind, victim["program"], **body)
        result = await client.request(command)
        sent.append(command["commandId"])
        expected = "conflict" if kind in ("program.create", "program.import") else "not_found"
        assert result["status"] == "rejected", (kind, result)
        assert result["error"]["code"] == expected, (kind, result["error"])
        if expected == "not_found":
            # The same words as for a program that does not exist.
            assert result["error"]["message"].replace(victim["program"], "P").replace(
                "tenant-b", "T"
            ) == missing["error"]["message"].replace(missing["programId"], "P").replace(
                "tenant-a", "T"
            ), kind

    # 2. Another tenant's own program naming the victim's sessions, groups and exercises.
    own = intruder("program.create", new_id(), name="Own")
    assert (await client.request(own))["status"] == "applied"
    own_day = intruder("session.add", own["programId"], sessionId=new_id(), name="D")
    assert (await client.request(own_day))["status"] == "applied"
    for kind, body in cases.items():
        if kind in (
            "program.create",
            "program.import",
            "program.update",
            "program.republish",
            "program.copy",
            "program.delete",
            "week.insert",
            "week.remove",
            "program.assign",
            "program.unassign",
            "maxes.set",
            "program.schedule",
            "program.sync",
            "program.revert",
        ):
            continue  # about the intruder's own program as a whole
        if kind == "session.add":
            continue  # names nothing of the victim's
        command = intruder(kind, own["programId"], **body)
        result = await client.request(command)
        sent.append(command["commandId"])
        assert result["status"] == "rejected", (kind, result)
        assert result["error"]["code"] == "not_found", (kind, result["error"])
        assert victim["program"] not in json.dumps(result), kind

    await client.wait_consumed(pool)
    after = await everything(pool)
    # Only the intruder's own program and session were added.
    assert [r for r in after[0] if str(r["id"]) != own["programId"]] == list(before[0])
    assert [r for r in after[1] if str(r["program_id"]) != own["programId"]] == list(before[1])
    assert after[2:] == before[2:]
    events = client.prescription_events() + client.session_events() + client.program_events()
    assert not [e for e in events if e["causationId"] in sent]
    victim_ids = set(victim.values())
    for event in events:
        if event["tenantId"] == "tenant-b":
            assert not victim_ids & set(json.dumps(event).split('"')), event
        else:
            assert event["programId"] != own["programId"]
