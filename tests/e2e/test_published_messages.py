"""Everything the service publishes matches the committed contract, checked by an independent
validator (`jsonschema`, Draft 2020-12, formats on) against `contracts/schemas/`, not by the
pydantic models that generated them: every result and event of the random pipeline run plus a
tour of the richer commands, and the headers of results and dead letters against the header
schemas of the AsyncAPI document."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from jsonschema import Draft202012Validator

from tests.e2e import test_pipeline as pipeline
from tests.support.kafka import CommandClient
from tests.support.programs import build_program, new_id

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"
ASYNCAPI: dict[str, Any] = json.loads((SCHEMAS / "asyncapi.json").read_text())
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def file_validator(name: str) -> Draft202012Validator:
    return schema_validator(json.loads((SCHEMAS / name).read_text()))


def header_validator(message: str) -> Draft202012Validator:
    return schema_validator(ASYNCAPI["components"]["messages"][message]["headers"])


def problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)]


async def richer_commands(client: CommandClient) -> None:
    """What the random run does not send: full sets, group settings, copies, imports, batches,
    republishing, rejections with details, a duplicate, traced and correlated commands."""
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    full_set = {
        "setType": "cluster",
        "repsMin": 3,
        "repsMax": 5,
        "load": {"value": 82.5, "unit": "percent1rm"},
        "rpe": 8.5,
        "rir": 2,
        "tempo": "3-1-X-0",
        "restSeconds": 20,
        "notes": "cluster: 20 s between minis",
    }
    timed = {
        "setType": "working",
        "durationSeconds": 45,
        "load": {"value": 0, "unit": "bodyweight"},
    }
    headers = [("traceparent", TRACEPARENT), ("correlation_id", b"tour-1")]
    await client.request(
        client.command(
            "series.replace", program, programExerciseId=ids["squat"], series=[full_set, timed]
        ),
        headers=headers,
    )
    await client.applied("group.update", program, groupId=ids["group"], rounds=3, notes="A/B")
    await client.applied(
        "group.update",
        program,
        groupId=ids["group"],
        format="tabata",
        intervalSeconds=20,
        intervalRestSeconds=10,
    )
    await client.applied(
        "series.replace",
        program,
        programExerciseId=ids["bench"],
        week=1,
        series=[{"reps": 8, "perSide": True, "load": {"value": 20, "unit": "kg"}}],
    )
    await client.applied(
        "series.progress",
        program,
        programExerciseId=ids["bench"],
        fromWeek=1,
        toWeeks=[2, 3],
        step={"load": 2.5, "reps": 1},
    )
    await client.applied("program.update", program, weekLabels=[{"week": 3, "label": "deload"}])
    await client.applied("week.insert", program, at=1)
    await client.applied("week.copy", program, fromWeek=0, toWeeks=[1])
    await client.applied("week.remove", program, week=4)
    await client.applied("program.copy", program, newProgramId=new_id(), name="Copy")
    await client.applied(
        "session.copy", program, sessionId=ids["session"], newSessionId=new_id(), name="Day 2"
    )
    await client.applied(
        "batch",
        program,
        operations=[
            {"type": "series.add", "programExerciseId": ids["bench"], "set": {"reps": 8}},
            {
                "type": "series.update",
                "programExerciseId": ids["squat"],
                "index": 1,
                "set": {"rpe": 7},
            },
            {"type": "group.ungroup", "groupId": ids["group"]},
        ],
    )
    await client.applied("program.republish", program)
    await client.applied("exercise.remove", program, programExerciseId=ids["row"])
    await client.applied("session.remove", program, sessionId=ids["session"])
    doomed = await build_program(client)
    await client.applied("program.delete", doomed["program"])
    imported = new_id()
    await client.applied(
        "program.import",
        imported,
        program={
            "format": "legacy",
            "name": "Legacy block",
            "sessions": [
                {
                    "sessionId": new_id(),
                    "name": "Day 1",
                    "exercises": [
                        {
                            "programExerciseId": new_id(),
                            "exerciseId": new_id(),
                            "name": "Bench press",
                            "orderIndex": 0,
                            "supersetGroup": 1,
                            "prescriptionRows": [{"sets": 2, "reps": 5, "weight": 80.5}],
                        }
                    ],
                }
            ],
        },
    )
    rejected = await client.run("program.update", program, weeks=99, colour="red")
    assert rejected["error"]["code"] == "validation_failed" and rejected["error"]["details"]
    command = client.command("program.update", program, name="Renamed")
    await client.request(command)
    await client.send(command)  # a duplicate
    await client.wait_for(lambda: len(client.result_copies[command["commandId"]]) >= 2)
    await client.publish(b"not json", b"some-key", headers=[("trace", b"\xff\xfe")])
    await client.wait_for(lambda: client.raw[client.topics.dead_letters])


async def test_every_published_message_matches_the_committed_schemas(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    await pipeline.test_latest_event_per_key_equals_the_database_after_a_random_sequence(
        client, pool
    )
    await richer_commands(client)
    await client.wait_consumed(pool)

    topics = client.topics
    checks = {
        topics.command_results: file_validator("command-result.schema.json"),
        topics.prescription_updated: file_validator("prescription-updated.schema.json"),
        topics.session_updated: file_validator("session-updated.schema.json"),
        topics.program_updated: file_validator("program-updated.schema.json"),
    }
    failures: list[str] = []
    seen: dict[str, int] = {}
    for topic, validator in checks.items():
        for record in client.raw[topic]:
            if record.value is None:  # a tombstone: nothing to validate, the key is deleted
                continue
            found = problems(validator, json.loads(record.value))
            failures += [f"{topic}@{record.partition}/{record.offset}: {p}" for p in found]
            seen[topic] = seen.get(topic, 0) + 1
    assert failures == [], "\n".join(failures[:20])

    results = [json.loads(r.value) for r in client.raw[topics.command_results]]
    assert {r["status"] for r in results} == {"applied", "rejected", "duplicate"}
    prescriptions = client.values(topics.prescription_updated)
    assert any(event["deleted"] for event in prescriptions)
    assert any(s.get("perSide") for event in prescriptions for s in event["series"])
    sessions = client.values(topics.session_updated)
    assert any(event["deleted"] for event in sessions)
    assert any(g["format"] == "tabata" for event in sessions for g in event["groups"])
    programs = client.values(topics.program_updated)
    assert any(event["deleted"] for event in programs)
    assert any(event["source"] for event in programs)
    assert any(r.value is None for r in client.raw[topics.program_updated]), "tombstones"
    assert min(seen.values()) > 10, seen


async def test_published_headers_match_the_asyncapi_header_schemas(
    client: CommandClient,
) -> None:
    ids = await build_program(client, weeks=1)
    command = client.command("program.update", ids["program"], name="Traced")
    await client.request(
        command, headers=[("traceparent", TRACEPARENT), ("correlation_id", b"req-7")]
    )
    await client.publish(b"[1, 2]", b"key", headers=[("blob", b"\xff")])
    await client.wait_for(lambda: client.raw[client.topics.dead_letters])

    [result] = [
        r
        for r in client.raw[client.topics.command_results]
        if r.key == command["commandId"].encode()
    ]
    result_headers = {name: value.decode() for name, value in result.headers}
    assert result_headers["correlation_id"] == "req-7"
    assert problems(header_validator("CommandResult"), result_headers) == []

    [dead] = client.raw[client.topics.dead_letters]
    dead_headers = {
        name: value.decode(errors="replace")
        for name, value in dead.headers
        if name.startswith("x-")  # the original headers ride along unchanged (any bytes)
    }
    assert problems(header_validator("DeadLetter"), dead_headers) == []
    assert dead_headers["x-error-code"] == "not_an_object"
    assert uuid.UUID(command["commandId"])
