"""Templates that stay in sync, and undo (CONTRACT.md) through the real broker and
PostgreSQL: a coach's four-week template handed to three athletes by program.copy, the athletes'
copies changed on their own (a session customised, a session removed, an exercise of a session
the template later drops), the template changed (a later week's series, a new session, a
removed session, week labels), a preview of every copy that changes and publishes nothing, the
real syncs from week 2 with exactly their events (and a duplicate that repeats the report), one
athlete's sync undone by program.revert, and the rejections of both commands."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from contracts.results import CommandResult
from service.clients.client import Document
from tests.support.announced import announced
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

FROM_WEEK = 2
"""The real syncs leave weeks 0 and 1 of every copy alone: the athletes have trained them."""

Content = dict[str, Any]


def kg(reps: int, value: float) -> dict[str, Any]:
    return {"reps": reps, "load": {"value": value, "unit": "kg"}}


@dataclass
class Copy:
    """One athlete's copy of the template, and what the test expects a sync of it to do."""

    label: str
    command_id: str
    program: str
    states: dict[str, str]  # template session name -> state in the sync report
    order: list[str]  # the copy's sessions after the sync, by template session name
    prescriptions: set[tuple[str, int]]  # (template exercise name, week) announced by the sync
    deleted_prescriptions: set[tuple[str, int]]
    sessions: set[str]  # template session names announced by the sync
    deleted_sessions: set[str]
    customised: set[str] = field(default_factory=set)  # sessions the copy keeps as its own
    removed: set[str] = field(default_factory=set)  # sessions the copy removed

    def of(self, template_id: str) -> str:
        """The id program.copy gave to the copy of a template entity."""
        return derived(self.command_id, template_id)


async def test_a_template_synced_to_three_athletes_previewed_applied_and_undone(
    client: CommandClient, pool: asyncpg.Pool
) -> None:
    ids = await template(client)
    template_id = ids["program"]
    copies = [
        await copy_of(client, ids, "A", athlete={"athleteId": "athlete-ana"}),
        await copy_of(client, ids, "B", athlete={"athleteId": "athlete-ben"}),
        await copy_of(client, ids, "C", athlete=None),
    ]
    a, b, c = copies
    for copy in copies:  # every copied session knows its origin and is not customised yet
        _, sessions = await announced(client, copy.command_id, prescriptions=0, sessions=4)
        assert {(s["sessionId"], s["sourceSessionId"], s["customised"]) for s in sessions} == {
            (copy.of(ids[day]), ids[day], False) for day in ("day1", "day2", "day3", "day4")
        }

    # The athletes' copies go their own ways. A: a heavier week 3 of the squat (customises
    # Day 1), and Day 2 on Thursdays (a calendar change: customises nothing).
    heavier = await client.applied(
        "series.replace",
        a.program,
        programExerciseId=a.of(ids["squat"]),
        week=3,
        series=[kg(5, 150)],
    )
    _, [session] = await announced(client, heavier["commandId"], prescriptions=1, sessions=1)
    assert (session["sessionId"], session["sourceSessionId"], session["customised"]) == (
        a.of(ids["day1"]),
        ids["day1"],
        True,
    )
    thursday = await client.applied(
        "session.update", a.program, sessionId=a.of(ids["day2"]), dayOffset=3
    )
    _, [session] = await announced(client, thursday["commandId"], prescriptions=0, sessions=1)
    assert (session["dayOffset"], session["customised"]) == (3, False)
    # B: no Day 3. C: a note on the curls of Day 4.
    await client.applied("session.remove", b.program, sessionId=b.of(ids["day3"]))
    noted = await client.applied(
        "exercise.update", c.program, programExerciseId=c.of(ids["curl"]), notes="slow eccentric"
    )
    _, [session] = await announced(client, noted["commandId"], prescriptions=0, sessions=1)
    assert (session["sessionId"], session["sourceSessionId"], session["customised"]) == (
        c.of(ids["day4"]),
        ids["day4"],
        True,
    )

    # The coach changes the template: weeks 1 and 3 of the deadlift, week 3 of the squat, a new
    # Day 5 right after Day 1, Day 4 gone, new week labels.
    template_version = await change_template(client, ids)
    source = await content_of(pool, template_id)
    assert source["order"] == [ids["day1"], ids["day5"], ids["day2"], ids["day3"]]

    # Previews: what a sync from week 2 would do, with nothing changed and nothing published.
    previews: list[str] = []
    for copy in copies:
        before = await content_of(pool, copy.program)
        command = client.command("program.sync", copy.program, dryRun=True, fromWeek=FROM_WEEK)
        result = await client.request(command)
        CommandResult.model_validate(result, strict=False)
        assert (result["status"], result["programVersion"], result["error"]) == (
            "applied",
            before["program"]["version"],
            None,
        ), copy.label
        assert result["sync"] == report(ids, copy, command["commandId"], template_version, True)
        assert await content_of(pool, copy.program) == before, copy.label
        assert await outbox_events_of(client, pool, command["commandId"]) == [], copy.label
        previews.append(command["commandId"])

    # The syncs.
    before_sync: dict[str, Content] = {}
    sync_commands: dict[str, Document] = {}
    for copy in copies:
        before = before_sync[copy.label] = await content_of(pool, copy.program)
        command = sync_commands[copy.label] = client.command(
            "program.sync", copy.program, fromWeek=FROM_WEEK
        )
        new = command["commandId"]
        result = await client.request(command)
        CommandResult.model_validate(result, strict=False)
        assert (result["status"], result["programVersion"]) == (
            "applied",
            before["program"]["version"] + 1,
        ), result
        assert result["sync"] == report(ids, copy, new, template_version, False)
        after = await content_of(pool, copy.program)
        assert_synced(ids, copy, new, source, before, after, template_version)

        # (the same look at the outbox that found nothing for the previews finds these)
        assert client.topics.program_updated in await outbox_events_of(client, pool, new)
        events = await announced_by(client, pool, new)
        name = session_namer(ids, copy, new)
        exercise = exercise_namer(ids, copy, new)
        assert events == {
            "prescriptions": {(exercise(e), w) for e, w in copy.prescriptions},
            "deleted prescriptions": {(exercise(e), w) for e, w in copy.deleted_prescriptions},
            "sessions": {name(s) for s in copy.sessions},
            "deleted sessions": {name(s) for s in copy.deleted_sessions},
            "programs": 1,
        }, copy.label
        [program_event] = client.program_events(new)
        assert program_event["sessionIds"] == after["order"]
        assert program_event["source"] == {
            "programId": template_id,
            "programVersion": template_version,
        }
        assert program_event["weekLabels"] == [
            {"week": 1, "label": "intro"},  # week 1 < fromWeek: the copy's own label stays
            {"week": 3, "label": "test"},
        ]
        for event in client.prescription_events(new):
            if not event["deleted"]:
                stored = after["prescriptions"][(event["programExerciseId"], event["week"])]
                assert (event["prescriptionId"], as_stored(event["series"]), event["version"]) == (
                    stored["id"],
                    stored["series"],
                    stored["version"],
                )
    await assert_events_reconstruct_database(client, pool)
    await assert_origins_announced(client, pool)

    # A duplicate of a sync answers with the first outcome, its report included; nothing moves.
    command = sync_commands["B"]
    first = client.results[command["commandId"]]
    synced_b = await content_of(pool, b.program)
    await client.send(command)
    await client.wait_for(lambda: len(client.result_copies[command["commandId"]]) >= 2)
    again = client.result_copies[command["commandId"]][-1]
    CommandResult.model_validate(again, strict=False)
    assert (again["status"], again["programVersion"], again["error"], again["sync"]) == (
        "duplicate",
        first["programVersion"],
        None,
        first["sync"],
    )
    assert await content_of(pool, b.program) == synced_b

    # Undo of B's sync: B is exactly as before it (the prescriptions the revert touched one
    # version on), announced as any change.
    version_before = before_sync["B"]["program"]["version"]
    revert = await client.applied("program.revert", b.program, toVersion=version_before)
    assert revert["programVersion"] == synced_b["program"]["version"] + 1
    restored = await content_of(pool, b.program)
    assert without_versions(restored) == without_versions(before_sync["B"])
    squat_3, curls = (b.of(ids["squat"]), 3), (b.of(ids["curl"]), 0)
    assert version_of(restored, squat_3) == version_of(synced_b, squat_3) + 1  # changed again
    # Brought back: the sync deleted it with its version + 1, so it comes back with + 2 (a key's
    # version only grows).
    assert version_of(restored, curls) == version_of(before_sync["B"], curls) + 2
    events = await announced_by(client, pool, revert["commandId"])
    new_day5 = derived(sync_commands["B"]["commandId"], ids["day5"])
    new_sled = derived(sync_commands["B"]["commandId"], ids["sled"])
    assert events == {
        "prescriptions": {
            (b.of(ids["squat"]), 3),
            (b.of(ids["deadlift"]), 3),
            (b.of(ids["curl"]), 0),
        },
        "deleted prescriptions": {(new_sled, 0), (new_sled, 2)},
        "sessions": {b.of(ids["day2"]), b.of(ids["day4"])},  # moved back; brought back
        "deleted sessions": {new_day5},
        "programs": 1,
    }
    await assert_events_reconstruct_database(client, pool)
    await assert_origins_announced(client, pool)
    # The revert is a version like any other: a new preview finds what the first one found.
    preview = client.command("program.sync", b.program, dryRun=True, fromWeek=FROM_WEEK)
    result = await client.request(preview)
    assert result["sync"] == report(ids, b, preview["commandId"], template_version, True)
    previews.append(preview["commandId"])

    # Rejections, each changing nothing.
    versions = {
        p: (await content_of(pool, p))["program"]["version"]
        for p in (template_id, a.program, b.program)
    }
    not_a_copy = await rejected(client, "program.sync", template_id)
    assert not_a_copy["code"] == "invariant_violated"
    assert "not a copy" in not_a_copy["message"]
    current = versions[b.program]
    for to_version in (current, current + 1):
        error = await rejected(client, "program.revert", b.program, toVersion=to_version)
        assert_rejected(error, "invariant_violated", "toVersion")
    # A's own Day 1 is not a session of the template: override names the source's sessions.
    foreign = await rejected(client, "program.sync", a.program, override=[a.of(ids["day1"])])
    assert_rejected(foreign, "not_found", "override[0]")
    for program, version in versions.items():
        assert (await content_of(pool, program))["program"]["version"] == version

    # No preview ever published an event (everything committed is consumed by now).
    await client.wait_consumed(pool)
    for topic in (
        client.topics.prescription_updated,
        client.topics.session_updated,
        client.topics.program_updated,
    ):
        assert not [e for e in client.values(topic) if e["causationId"] in previews], topic


# --- the story


async def template(client: CommandClient) -> dict[str, str]:
    """The coach's template, four weeks: Day 1 (a squat progressing 2.5 kg a week, a bench +
    row superset), Day 2 (a deadlift progressing 5 kg a week), Day 3 (a press, the same every
    week), Day 4 (curls); week 1 labelled."""
    ids = await build_program(client, weeks=4)
    ids["day1"] = ids["session"]
    names = ("day2", "deadlift", "day3", "press", "day4", "curl", "day5", "sled", "sled_group")
    ids |= {name: new_id() for name in names}

    def add(session: str, exercise: str, name: str, series: list[Any]) -> dict[str, Any]:
        return {
            "type": "exercise.add",
            "sessionId": ids[session],
            "programExerciseId": ids[exercise],
            "exerciseId": new_id(),
            "name": name,
            "series": series,
        }

    await client.applied(
        "batch",
        ids["program"],
        operations=[
            {
                "type": "series.progress",
                "programExerciseId": ids["squat"],
                "toWeeks": [1, 2, 3],
                "step": {"load": 2.5},
            },
            {"type": "session.add", "sessionId": ids["day2"], "name": "Day 2"},
            add("day2", "deadlift", "Deadlift", [kg(5, 180)]),
            {
                "type": "series.progress",
                "programExerciseId": ids["deadlift"],
                "toWeeks": [1, 2, 3],
                "step": {"load": 5},
            },
            {"type": "session.add", "sessionId": ids["day3"], "name": "Day 3"},
            add("day3", "press", "Overhead press", [kg(8, 50)]),
            {"type": "week.copy", "fromWeek": 0, "toWeeks": [1, 2, 3], "sessionId": ids["day3"]},
            {"type": "session.add", "sessionId": ids["day4"], "name": "Day 4"},
            add("day4", "curl", "Curl", [{"reps": 12}]),
            {"type": "program.update", "weekLabels": [{"week": 1, "label": "intro"}]},
        ],
    )
    return ids


async def copy_of(
    client: CommandClient, ids: dict[str, str], label: str, athlete: dict[str, Any] | None
) -> Copy:
    """The template copied for one athlete (C: a copy without an athlete), with what a sync
    from week 2 is to do with it once the copy and the template changed as the test does."""
    fields: dict[str, Any] = {"newProgramId": new_id(), "name": f"Block ({label})"}
    if athlete is not None:
        fields["athlete"] = athlete
    command = client.command("program.copy", ids["program"], **fields)
    assert (await client.request(command))["status"] == "applied"
    plans: dict[str, dict[str, Any]] = {
        # Day 1 customised: kept as it is (week 3 of its squat too); Day 2 and 3 moved down.
        "A": {
            "states": {"day1": "custom", "day2": "synced", "day3": "unchanged", "day4": "removed"},
            "order": ["day1", "day5", "day2", "day3"],
            "prescriptions": {("deadlift", 3), ("sled", 0), ("sled", 2)},
            "deleted_prescriptions": {("curl", 0)},
            "sessions": {"day5", "day2", "day3"},
            "deleted_sessions": {"day4"},
            "customised": {"day1"},
        },
        # Day 3 removed by the copy: custom, with no session.
        "B": {
            "states": {"day1": "synced", "day2": "synced", "day3": "custom", "day4": "removed"},
            "order": ["day1", "day5", "day2"],
            "prescriptions": {("squat", 3), ("deadlift", 3), ("sled", 0), ("sled", 2)},
            "deleted_prescriptions": {("curl", 0)},
            "sessions": {"day5", "day2"},
            "deleted_sessions": {"day4"},
            "removed": {"day3"},
        },
        # Day 4 customised: the copy keeps it although the template dropped it.
        "C": {
            "states": {"day1": "synced", "day2": "synced", "day3": "unchanged", "day4": "custom"},
            "order": ["day1", "day5", "day2", "day3", "day4"],
            "prescriptions": {("squat", 3), ("deadlift", 3), ("sled", 0), ("sled", 2)},
            "deleted_prescriptions": set(),
            "sessions": {"day5", "day2", "day3", "day4"},
            "deleted_sessions": set(),
            "customised": {"day4"},
        },
    }
    plan = plans[label]
    plan["states"]["day5"] = "new"
    return Copy(label, command["commandId"], command["newProgramId"], **plan)


async def change_template(client: CommandClient, ids: dict[str, str]) -> int:
    """The coach's changes to the template after the copies; its version afterwards."""
    program = ids["program"]
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "series.replace",
            {"programExerciseId": ids["deadlift"], "week": 1, "series": [kg(3, 200)]},
        ),
        (
            "series.replace",
            {"programExerciseId": ids["deadlift"], "week": 3, "series": [kg(1, 220)]},
        ),
        ("series.replace", {"programExerciseId": ids["squat"], "week": 3, "series": [kg(3, 160)]}),
        ("session.add", {"sessionId": ids["day5"], "name": "Day 5", "position": 1, "dayOffset": 5}),
        (
            "exercise.add",
            {
                "sessionId": ids["day5"],
                "programExerciseId": ids["sled"],
                "exerciseId": new_id(),
                "name": "Sled push",
                "newGroupId": ids["sled_group"],
                "series": [{"durationSeconds": 60}],
            },
        ),
        (
            "series.replace",
            {"programExerciseId": ids["sled"], "week": 2, "series": [{"durationSeconds": 90}]},
        ),
        ("session.remove", {"sessionId": ids["day4"]}),
        (
            "program.update",
            {"weekLabels": [{"week": 1, "label": "ramp"}, {"week": 3, "label": "test"}]},
        ),
    ]
    version = 0
    for kind, fields in steps:
        version = (await client.applied(kind, program, **fields))["programVersion"]
    return version


# --- what a sync is to do


SOURCE_ORDER = ("day1", "day5", "day2", "day3", "day4")
"""The template's sessions in its order after the changes, then Day 4, which it no longer has."""


def session_namer(ids: dict[str, str], copy: Copy, command_id: str) -> Callable[[str], str]:
    """The copy's session id for a template session's name: Day 5 is new, with the sync's id."""

    def name(day: str) -> str:
        return derived(command_id, ids[day]) if day == "day5" else copy.of(ids[day])

    return name


def exercise_namer(ids: dict[str, str], copy: Copy, command_id: str) -> Callable[[str], str]:
    """The copy's program exercise id for a template exercise's name: the sled push is new."""

    def name(exercise: str) -> str:
        return derived(command_id, ids[exercise]) if exercise == "sled" else copy.of(ids[exercise])

    return name


def report(
    ids: dict[str, str], copy: Copy, command_id: str, source_version: int, dry_run: bool
) -> dict[str, Any]:
    """The `sync` a result of this command is to carry."""
    name = session_namer(ids, copy, command_id)
    return {
        "dryRun": dry_run,
        "sourceProgramVersion": source_version,
        "sessions": [
            {
                "sourceSessionId": ids[day],
                "sessionId": None if day in copy.removed else name(day),
                "state": copy.states[day],
            }
            for day in SOURCE_ORDER
        ],
    }


def assert_synced(
    ids: dict[str, str],
    copy: Copy,
    command_id: str,
    source: Content,
    before: Content,
    after: Content,
    source_version: int,
) -> None:
    """The copy as stored after its sync from week 2: the template's content in every session
    the copy did not make its own, its own weeks 0 and 1, its own sessions untouched."""
    name = session_namer(ids, copy, command_id)
    program = after["program"]
    assert {k: v for k, v in program.items() if k not in ("version", "source", "week_labels")} == {
        k: v for k, v in before["program"].items() if k not in ("version", "source", "week_labels")
    }, "name, weeks, athlete, start date stay the copy's"
    assert (program["source"], program["week_labels"]) == (
        {"programId": ids["program"], "programVersion": source_version},
        [{"week": 1, "label": "intro"}, {"week": 3, "label": "test"}],
    )
    assert after["order"] == [name(day) for day in copy.order], copy.label
    for day in copy.order:
        session = after["sessions"][name(day)]
        assert (session["origin_id"], session["customised"]) == (ids[day], day in copy.customised)
    # Day offsets are the athlete's; a new session takes the template's.
    offsets = {day: after["sessions"][name(day)]["day_offset"] for day in copy.order}
    assert offsets == {
        day: 5 if day == "day5" else before["sessions"][name(day)]["day_offset"]
        for day in copy.order
    }
    for day in copy.customised:  # the copy's own: exactly as it was, but for its place
        mine = subtree(after, name(day))
        theirs = subtree(before, name(day))
        del mine["session"]["order_index"], theirs["session"]["order_index"]
        assert mine == theirs, (copy.label, day)

    for exercise_id, exercise in after["exercises"].items():
        if after["sessions"][exercise["session_id"]]["customised"]:
            continue
        weeks, taken = weeks_of(after, exercise_id), weeks_of(source, exercise["origin_id"])
        assert later(weeks) == later(taken), (copy.label, exercise["name"])
        kept = {w: s for w, s in weeks_of(before, exercise_id).items() if w < FROM_WEEK}
        assert earlier(weeks) == (kept or {0: []}), (copy.label, exercise["name"])
    for day in copy.order:
        if day not in copy.customised:
            assert structure(after, name(day)) == structure(source, ids[day], own=True)

    # The template's new week 1 of the deadlift is not the athlete's: week 1 < fromWeek.
    deadlift = copy.of(ids["deadlift"])
    assert weeks_of(after, deadlift)[1] == weeks_of(before, deadlift)[1]
    assert weeks_of(after, deadlift)[1] != weeks_of(source, ids["deadlift"])[1]
    assert weeks_of(after, deadlift)[3] == weeks_of(source, ids["deadlift"])[3]
    # The new session's exercise and its prescriptions have the derived ids.
    sled = derived(command_id, ids["sled"])
    assert after["exercises"][sled]["group_id"] == derived(command_id, ids["sled_group"])
    assert {
        week: p["id"]
        for (exercise_id, week), p in after["prescriptions"].items()
        if exercise_id == sled
    } == {week: derived(command_id, f"prescription:{sled}:{week}") for week in (0, 2)}


# --- the database


async def content_of(pool: asyncpg.Pool, program_id: str) -> Content:
    """One program as stored: its own row, its sessions (with `order`), groups, exercises and
    prescriptions by (program exercise, week)."""
    program = uuid.UUID(program_id)
    row = await pool.fetchrow(
        """SELECT name, weeks, week_labels, start_date, source_program_id,
                  source_program_version, removed_origins, athlete, version
           FROM programs WHERE id = $1""",
        program,
    )
    assert row is not None, program_id
    sessions = await pool.fetch(
        """SELECT id, name, order_index, day_offset, rescheduled, origin_id, customised
           FROM sessions WHERE program_id = $1 ORDER BY order_index""",
        program,
    )
    groups = await pool.fetch(
        """SELECT id, session_id, order_index, rounds, rest_between_rounds_seconds, notes, format,
                  time_cap_seconds, interval_seconds, interval_rest_seconds, origin_id
           FROM exercise_groups WHERE program_id = $1""",
        program,
    )
    exercises = await pool.fetch(
        """SELECT id, session_id, group_id, order_within_group, exercise_id, name, notes,
                  alternatives, progression, warmup, origin_id
           FROM program_exercises WHERE program_id = $1""",
        program,
    )
    prescriptions = await pool.fetch(
        "SELECT id, program_exercise_id, week, version, series FROM prescriptions"
        " WHERE program_id = $1",
        program,
    )
    own = plain(row)
    source = own.pop("source_program_id"), own.pop("source_program_version")
    own["source"] = (
        None if source[0] is None else {"programId": source[0], "programVersion": source[1]}
    )
    own["removed_origins"] = sorted(own["removed_origins"])
    return {
        "program": own,
        "order": [str(s["id"]) for s in sessions],
        "sessions": {str(s["id"]): plain(s) for s in sessions},
        "groups": {str(g["id"]): plain(g) for g in groups},
        "exercises": {str(e["id"]): plain(e) for e in exercises},
        "prescriptions": {
            (str(p["program_exercise_id"]), p["week"]): {
                "id": str(p["id"]),
                "version": p["version"],
                "series": p["series"],
            }
            for p in prescriptions
        },
    }


def plain(record: asyncpg.Record) -> dict[str, Any]:
    """A row with its UUIDs as strings, as the wire has them."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in record.items()}


def without_versions(content: Content) -> Content:
    return {
        **content,
        "program": {k: v for k, v in content["program"].items() if k != "version"},
        "prescriptions": {
            key: {k: v for k, v in p.items() if k != "version"}
            for key, p in content["prescriptions"].items()
        },
    }


def subtree(content: Content, session_id: str) -> Content:
    """One session with its groups, exercises and prescriptions."""
    exercises = {k: e for k, e in content["exercises"].items() if e["session_id"] == session_id}
    return {
        "session": dict(content["sessions"][session_id]),
        "groups": {k: g for k, g in content["groups"].items() if g["session_id"] == session_id},
        "exercises": exercises,
        "prescriptions": {k: p for k, p in content["prescriptions"].items() if k[0] in exercises},
    }


def structure(content: Content, session_id: str, *, own: bool = False) -> Any:
    """A session's name, groups (settings) and exercises in order, each named by its origin
    (`own`: by its own id, for the template)."""

    def named(entity: dict[str, Any]) -> str:
        return str(entity["id"] if own else entity["origin_id"])

    settings = ("rounds", "rest_between_rounds_seconds", "notes", "format", "time_cap_seconds")
    groups = sorted(
        (g for g in content["groups"].values() if g["session_id"] == session_id),
        key=lambda g: g["order_index"],
    )
    return content["sessions"][session_id]["name"], [
        (
            named(group),
            [group[s] for s in settings],
            [
                (named(e), e["exercise_id"], e["name"], e["notes"], e["warmup"])
                for e in sorted(
                    (e for e in content["exercises"].values() if e["group_id"] == group["id"]),
                    key=lambda e: e["order_within_group"],
                )
            ],
        )
        for group in groups
    ]


def version_of(content: Content, key: tuple[str, int]) -> int:
    """The stored version of the prescription of (program exercise, week)."""
    version: int = content["prescriptions"][key]["version"]
    return version


def weeks_of(content: Content, exercise_id: str) -> dict[int, list[Any]]:
    return {
        week: p["series"]
        for (owner, week), p in content["prescriptions"].items()
        if owner == exercise_id
    }


def earlier(by_week: dict[int, list[Any]]) -> dict[int, list[Any]]:
    return {w: s for w, s in by_week.items() if w < FROM_WEEK}


def later(by_week: dict[int, list[Any]]) -> dict[int, list[Any]]:
    return {w: s for w, s in by_week.items() if w >= FROM_WEEK}


async def outbox_events_of(client: CommandClient, pool: asyncpg.Pool, command_id: str) -> list[str]:
    """The topics of the events the command committed (its result is committed with them)."""
    rows = await pool.fetch(
        """SELECT topic FROM outbox
           WHERE topic <> $1 AND position(convert_to($2, 'UTF8') in value) > 0""",
        client.topics.command_results,
        command_id,
    )
    return [row["topic"] for row in rows]


# --- the wire


async def announced_by(client: CommandClient, pool: asyncpg.Pool, command_id: str) -> Content:
    """Every event the command caused (all of them: the client has consumed every committed
    one), each valid, at most one per prescription and per session, as sets of keys."""
    await client.wait_consumed(pool)
    prescriptions = client.prescription_events(command_id)
    sessions = client.session_events(command_id)
    programs = client.program_events(command_id)
    assert_valid_events(prescriptions, sessions)
    assert_valid_program_events(programs)
    keys = [(e["programExerciseId"], e["week"]) for e in prescriptions]
    assert len(keys) == len(set(keys)), "one event per prescription per command"
    assert len(sessions) == len({e["sessionId"] for e in sessions})
    return {
        "prescriptions": {
            (e["programExerciseId"], e["week"]) for e in prescriptions if not e["deleted"]
        },
        "deleted prescriptions": {
            (e["programExerciseId"], e["week"]) for e in prescriptions if e["deleted"]
        },
        "sessions": {e["sessionId"] for e in sessions if not e["deleted"]},
        "deleted sessions": {e["sessionId"] for e in sessions if e["deleted"]},
        "programs": len(programs),
    }


async def assert_origins_announced(client: CommandClient, pool: asyncpg.Pool) -> None:
    """The latest `session.updated` of every session carries its origin and customised mark as
    stored (`assert_events_reconstruct_database` compares the rest)."""
    latest = {
        key: (event["sourceSessionId"], event["customised"])
        for key, event in client.latest(client.topics.session_updated).items()
        if not event["deleted"]
    }
    stored = {
        str(r["id"]): (None if r["origin_id"] is None else str(r["origin_id"]), r["customised"])
        for r in await pool.fetch("SELECT id, origin_id, customised FROM sessions")
    }
    assert latest == stored
