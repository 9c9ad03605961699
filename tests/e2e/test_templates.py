"""Programs as templates and their end, timed circuits and unilateral sets (CONTRACT.md)
through the real broker and PostgreSQL: program.copy, program.delete with tombstones after every
deletion, group formats, perSide, and tenant isolation of the new commands."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from tests.support.kafka import CommandClient
from tests.support.programs import (
    as_stored,
    assert_events_reconstruct_database,
    assert_valid_events,
    assert_valid_program_events,
    build_program,
    derived,
    new_id,
    rejected,
)
from tests.support.results import assert_rejected


async def progressed_program(client: CommandClient) -> dict[str, str]:
    """A 4-week program with a superset, a 3-exercise EMOM circuit, labels and several weeks."""
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    ids["day2"], ids["circuit"] = new_id(), new_id()
    await client.applied("session.add", program, sessionId=ids["day2"], name="Day 2")
    for name in ("burpee", "swing", "pullup"):
        ids[name] = new_id()
        fields: dict[str, Any] = (
            {"newGroupId": ids["circuit"]} if name == "burpee" else {"groupId": ids["circuit"]}
        )
        await client.applied(
            "exercise.add",
            program,
            sessionId=ids["day2"],
            programExerciseId=ids[name],
            exerciseId=new_id(),
            name=name.title(),
            series=[{"reps": 10, "perSide": name == "swing"}],
            **fields,
        )
    await client.applied(
        "group.update",
        program,
        groupId=ids["circuit"],
        format="emom",
        intervalSeconds=60,
        rounds=10,
        notes="every minute",
    )
    await client.applied("group.update", program, groupId=ids["group"], restBetweenRoundsSeconds=90)
    await client.applied(
        "series.progress",
        program,
        programExerciseId=ids["squat"],
        toWeeks=[1, 2, 3],
        step={"load": 2.5},
    )
    await client.applied("week.copy", program, fromWeek=0, toWeeks=[1, 2], sessionId=ids["day2"])
    await client.applied("program.update", program, weekLabels=[{"week": 3, "label": "deload"}])
    return ids


async def test_program_copy_is_deep_with_derived_ids_and_lineage(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await progressed_program(client)
    source = ids["program"]
    version = await pool.fetchval("SELECT version FROM programs WHERE id = $1", uuid.UUID(source))
    command = client.command("program.copy", source, newProgramId=new_id(), name="Block (Sam)")
    copy = command["newProgramId"]
    result = await client.request(command)
    assert (result["status"], result["programId"], result["programVersion"]) == (
        "applied",
        source,
        version,
    ), "the template does not change: its version stays"
    await assert_events_reconstruct_database(client, pool)
    assert (
        await pool.fetchval("SELECT version FROM programs WHERE id = $1", uuid.UUID(source))
        == version
    )

    def twin(entity: str) -> str:
        return derived(command["commandId"], entity)

    programs = client.latest(client.topics.program_updated)
    original, copied = programs[source], programs[copy]
    assert_valid_program_events([copied])
    assert copied["causationId"] == command["commandId"]
    assert copied["source"] == {"programId": source, "programVersion": version}
    assert (copied["programVersion"], copied["name"]) == (1, "Block (Sam)")
    assert (copied["weeks"], copied["weekLabels"]) == (original["weeks"], original["weekLabels"])
    assert copied["sessionIds"] == [twin(s) for s in original["sessionIds"]]

    sessions = client.latest(client.topics.session_updated)
    for session_id in original["sessionIds"]:
        mine, theirs = sessions[session_id], sessions[twin(session_id)]
        assert theirs["causationId"] == command["commandId"]
        assert (theirs["name"], theirs["orderIndex"]) == (mine["name"], mine["orderIndex"])
        for group, copied_group in zip(mine["groups"], theirs["groups"], strict=True):
            settings = {k: v for k, v in group.items() if k not in ("groupId", "exercises")}
            assert copied_group["groupId"] == twin(group["groupId"])
            assert {k: v for k, v in copied_group.items() if k in settings} == settings
            assert [
                (twin(e["programExerciseId"]), e["exerciseId"], e["name"])
                for e in group["exercises"]
            ] == [
                (e["programExerciseId"], e["exerciseId"], e["name"])
                for e in copied_group["exercises"]
            ]
    circuit = next(g for g in sessions[twin(ids["day2"])]["groups"] if g["kind"] == "circuit")
    assert (circuit["format"], circuit["intervalSeconds"], circuit["rounds"]) == ("emom", 60, 10)

    prescriptions = client.latest(client.topics.prescription_updated)
    originals = [e for e in prescriptions.values() if e["programId"] == source]
    copies = {k: e for k, e in prescriptions.items() if e["programId"] == copy}
    assert len(copies) == len(originals) > 10
    for event in originals:
        mirror = copies[twin(event["prescriptionId"])]
        assert mirror["causationId"] == command["commandId"]
        assert mirror["programExerciseId"] == twin(event["programExerciseId"])
        assert (mirror["week"], mirror["series"], mirror["version"]) == (
            event["week"],
            event["series"],
            1,
        )
        assert mirror["group"]["groupId"] == twin(event["group"]["groupId"])
    swing = [e for e in copies.values() if e["programExerciseId"] == twin(ids["swing"])]
    assert {e["week"] for e in swing} == {0, 1, 2}
    assert all(e["series"][0]["perSide"] is True for e in swing)

    # The copy is a program of its own: it takes commands on its own key.
    await client.applied("program.update", copy, name="Sam's block")
    taken = await rejected(client, "program.copy", source, newProgramId=copy)
    assert_rejected(taken, "conflict", "newProgramId")
    itself = await rejected(client, "program.copy", source, newProgramId=source)
    assert itself["code"] == "conflict"


async def test_program_delete_removes_everything_and_tombstones_each_key_after_its_event(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await progressed_program(client)
    program = ids["program"]
    keep = await build_program(client)  # another program, untouched
    first_command = client.command("program.update", program, name="Before the end")
    await client.request(first_command)
    counts_before = await pool.fetchval("SELECT count(*) FROM prescriptions")

    command = client.command("program.delete", program)
    result = await client.request(command)
    assert result["status"] == "applied"
    await assert_events_reconstruct_database(client, pool)

    for table in ("programs", "sessions", "exercise_groups", "program_exercises", "prescriptions"):
        column = "id" if table == "programs" else "program_id"
        assert (
            await pool.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1", uuid.UUID(program)
            )
            == 0
        ), table
    assert await pool.fetchval("SELECT count(*) FROM prescriptions") < counts_before
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM programs WHERE id = $1", uuid.UUID(keep["program"])
        )
        == 1
    )

    # Per key: the deleted event, then the tombstone, on the same topic.
    for topic, key_field in (
        (client.topics.program_updated, "programId"),
        (client.topics.session_updated, "sessionId"),
        (client.topics.prescription_updated, "prescriptionId"),
    ):
        records = client.events[topic]  # (key, value) in arrival order; None: a tombstone
        deleted = [v for _, v in records if v and v["causationId"] == command["commandId"]]
        assert deleted and all(e["deleted"] for e in deleted)
        if key_field == "programId":
            assert_valid_program_events(deleted)
        elif key_field == "sessionId":
            assert_valid_events([], deleted)
        else:
            assert_valid_events(deleted, [])
        for event in deleted:
            key = event[key_field]
            sequence = [
                "tombstone" if value is None else value["causationId"]
                for record_key, value in records
                if record_key == key
            ]
            assert sequence[-2:] == [command["commandId"], "tombstone"], (topic, key, sequence)
    [deleted_program] = client.program_events(command["commandId"])
    assert (
        deleted_program["deleted"] and deleted_program["programVersion"] == result["programVersion"]
    )
    assert len([e for e in client.prescription_events(command["commandId"]) if e["deleted"]]) > 10

    # Afterwards: not_found for commands naming it, conflict for taking its id again.
    missing = await rejected(client, "session.add", program, sessionId=new_id(), name="X")
    assert missing["code"] == "not_found"
    again = await rejected(client, "program.delete", program)
    assert again["code"] == "not_found"
    create = await rejected(client, "program.create", program, name="Again")
    assert_rejected(create, "conflict", "programId")
    assert "never reused" in create["message"]
    imported = await client.request(
        client.command("program.import", program, program={"name": "X"})
    )
    assert imported["error"]["code"] == "conflict"
    copy_into = await rejected(client, "program.copy", keep["program"], newProgramId=program)
    assert_rejected(copy_into, "conflict", "newProgramId")
    # The ids of what it held are free again; its old commands are still known.
    await client.applied("session.add", keep["program"], sessionId=ids["day2"], name="Reused id")
    await client.send(first_command)
    await client.wait_for(lambda: len(client.result_copies[first_command["commandId"]]) >= 2)
    replay = client.result_copies[first_command["commandId"]][-1]
    assert (replay["status"], replay["programVersion"]) == (
        "duplicate",
        result["programVersion"] - 1,
    )


async def test_every_deletion_is_followed_by_its_tombstone(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client, weeks=4)
    program = ids["program"]
    for week in (1, 2, 3):
        await client.applied(
            "series.replace",
            program,
            programExerciseId=ids["bench"],
            week=week,
            series=[{"reps": week}],
        )
    commands = [
        client.command("week.remove", program, week=3),
        client.command("program.update", program, weeks=2),
        client.command("exercise.remove", program, programExerciseId=ids["row"]),
        client.command("session.remove", program, sessionId=ids["session"]),
    ]
    for command in commands:
        assert (await client.request(command))["status"] == "applied"
    await assert_events_reconstruct_database(client, pool)
    for command in commands:
        for topic, key_field in (
            (client.topics.prescription_updated, "prescriptionId"),
            (client.topics.session_updated, "sessionId"),
        ):
            records = client.events[topic]
            for at, (key, event) in enumerate(records):
                if event and event["causationId"] == command["commandId"] and event["deleted"]:
                    following = [value for k, value in records[at + 1 :] if k == key]
                    assert following and following[0] is None, (command["type"], event)
                    assert key == event[key_field]
    gone = client.prescription_events(commands[0]["commandId"])
    assert [e["week"] for e in gone if e["deleted"]] == [3]


async def test_group_formats_are_set_announced_cleared_copied_and_imported(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    program = ids["program"]
    result = await client.applied(
        "group.update", program, groupId=ids["group"], format="amrap", timeCapSeconds=720
    )
    _, [session] = await client.events_of(result["commandId"], 0, 1)
    [_, superset] = session["groups"]
    assert {
        k: superset[k]
        for k in ("format", "timeCapSeconds", "intervalSeconds", "intervalRestSeconds")
    } == {
        "format": "amrap",
        "timeCapSeconds": 720,
        "intervalSeconds": None,
        "intervalRestSeconds": None,
    }
    standalone = session["groups"][0]
    assert (standalone["format"], standalone["timeCapSeconds"]) == ("rounds", None)

    cleared = await client.applied("group.update", program, groupId=ids["group"], format=None)
    _, [session] = await client.events_of(cleared["commandId"], 0, 1)
    assert (session["groups"][1]["format"], session["groups"][1]["timeCapSeconds"]) == (
        "rounds",
        720,
    )

    bad = await rejected(client, "group.update", program, groupId=ids["group"], timeCapSeconds=0)
    assert_rejected(bad, "validation_failed", "timeCapSeconds")
    unknown = await rejected(client, "group.update", program, groupId=ids["group"], format="hiit")
    assert_rejected(unknown, "validation_failed", "format")

    await client.applied(
        "group.update",
        program,
        groupId=ids["group"],
        format="tabata",
        intervalSeconds=20,
        intervalRestSeconds=10,
    )
    copy = client.command("session.copy", program, sessionId=ids["session"], newSessionId=new_id())
    await client.request(copy)
    _, sessions = await client.events_of(copy["commandId"], 3, 1)
    copied = next(s for s in sessions if s["sessionId"] == copy["newSessionId"])
    assert (copied["groups"][1]["format"], copied["groups"][1]["intervalRestSeconds"]) == (
        "tabata",
        10,
    )

    ungroup = await client.applied("group.ungroup", program, groupId=ids["group"])
    _, [session] = await client.events_of(ungroup["commandId"], 2, 1)
    assert all(
        (g["format"], g["timeCapSeconds"], g["intervalSeconds"], g["rounds"])
        == ("rounds", None, None, None)
        for g in session["groups"]
    )

    imported = new_id()
    snapshot = {
        "name": "Conditioning",
        "sessions": [
            {
                "sessionId": new_id(),
                "name": "Finisher",
                "groups": [
                    {
                        "groupId": new_id(),
                        "format": "forTime",
                        "timeCapSeconds": 900,
                        "rounds": 5,
                        "exercises": [
                            {
                                "programExerciseId": new_id(),
                                "exerciseId": new_id(),
                                "name": name,
                                "prescriptions": [{"series": [{"reps": 10, "perSide": True}]}],
                            }
                            for name in ("Lunge", "Row")
                        ],
                    }
                ],
            }
        ],
    }
    result = await client.applied("program.import", imported, program=snapshot)
    prescriptions, [session] = await client.events_of(result["commandId"], 2, 1)
    assert (session["groups"][0]["format"], session["groups"][0]["timeCapSeconds"]) == (
        "forTime",
        900,
    )
    assert all(p["series"][0]["perSide"] is True for p in prescriptions)
    await assert_events_reconstruct_database(client, pool)
    stored = await pool.fetchrow(
        "SELECT format, time_cap_seconds FROM exercise_groups WHERE program_id = $1",
        uuid.UUID(imported),
    )
    assert dict(stored) == {"format": "forTime", "time_cap_seconds": 900}


async def test_per_side_sets_are_validated_merged_announced_and_progressed(
    client: CommandClient,
) -> None:
    ids = await build_program(client)
    program, squat = ids["program"], ids["squat"]
    replace = client.command(
        "series.replace",
        program,
        programExerciseId=squat,
        series=[{"reps": 8, "perSide": True, "load": {"value": 20, "unit": "kg"}}, {"reps": 8}],
    )
    await client.request(replace)
    [event], _ = await client.events_of(replace["commandId"], 1)
    assert event["series"][0]["perSide"] is True
    assert "perSide" not in event["series"][1], "omitted on output when false"

    update = client.command(
        "series.update", program, programExerciseId=squat, index=1, set={"perSide": True}
    )
    await client.request(update)
    [event], _ = await client.events_of(update["commandId"], 1)
    assert [s.get("perSide") for s in event["series"]] == [True, True]
    clear = client.command(
        "series.update", program, programExerciseId=squat, index=0, set={"perSide": None}
    )
    await client.request(clear)
    [event], _ = await client.events_of(clear["commandId"], 1)
    assert "perSide" not in event["series"][0]

    progress = client.command(
        "series.progress", program, programExerciseId=squat, toWeeks=[1], step={"reps": 1}
    )
    await client.request(progress)
    [event], _ = await client.events_of(progress["commandId"], 1)
    assert as_stored(event["series"])[1] == {
        "orderIndex": 1,
        "setType": "working",
        "reps": 9,
        "perSide": True,
    }

    wrong = await rejected(
        client, "series.add", program, programExerciseId=squat, set={"reps": 5, "perSide": "yes"}
    )
    assert_rejected(wrong, "validation_failed", "set.perSide")


async def test_batch_refuses_copy_and_delete_and_other_tenants_get_not_found(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await build_program(client)
    program = ids["program"]
    for kind, fields in (("program.copy", {"newProgramId": new_id()}), ("program.delete", {})):
        error = await rejected(client, "batch", program, operations=[{"type": kind, **fields}])
        assert_rejected(error, "validation_failed", "operations[0].type")

    before = await pool.fetchval("SELECT count(*) FROM outbox")
    for kind, fields in (("program.copy", {"newProgramId": new_id()}), ("program.delete", {})):
        command = client.command(kind, program, **fields)
        command["tenantId"] = "tenant-b"
        result = await client.request(command)
        assert (result["status"], result["error"]["code"]) == ("rejected", "not_found")
        assert "tenant-b" in result["error"]["message"]
    assert await pool.fetchval("SELECT count(*) FROM programs") == 1
    rows = await pool.fetch("SELECT topic, value FROM outbox ORDER BY id OFFSET $1", before)
    assert [row["topic"] for row in rows] == [client.topics.command_results] * 2
    assert all(json.loads(row["value"])["status"] == "rejected" for row in rows)
