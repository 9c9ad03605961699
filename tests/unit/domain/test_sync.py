"""`program.sync` through the domain alone: origins and customised marks, each of the five
states, `override`, `fromWeek`, new sessions' place and ids, weeks and labels, dry runs, the
rejections in the contract's order, and events that are exactly what changed."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from pydantic import TypeAdapter

from contracts.commands import Command
from service.domain.ids import uuid5
from service.domain.model import Program
from tests.support.domain import Programs
from tests.support.programs import new_id

Template = dict[str, str]
COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)


def sets(reps: int, kg: float, count: int = 3) -> list[dict[str, Any]]:
    return [{"reps": reps, "load": {"value": kg, "unit": "kg"}}] * count


def template(programs: Programs, weeks: int = 4) -> Template:
    """Three sessions (A: squat; B: bench + row superset; C: deadlift), every week written."""
    ids = {name: new_id() for name in ("program", "a", "b", "c", "squat", "bench", "row", "pull")}
    ids["group"] = new_id()
    program = ids["program"]
    programs.applied("program.create", program, name="Template", weeks=weeks)
    for session, name in (("a", "A"), ("b", "B"), ("c", "C")):
        programs.applied("session.add", program, sessionId=ids[session], name=name)
    programs.applied(
        "exercise.add", program, sessionId=ids["a"], programExerciseId=ids["squat"],
        exerciseId=new_id(), name="Squat", series=sets(5, 100),
    )  # fmt: skip
    programs.applied(
        "exercise.add", program, sessionId=ids["b"], programExerciseId=ids["bench"],
        exerciseId=new_id(), name="Bench", newGroupId=ids["group"], series=sets(5, 80),
    )  # fmt: skip
    programs.applied(
        "exercise.add", program, sessionId=ids["b"], programExerciseId=ids["row"],
        exerciseId=new_id(), name="Row", groupId=ids["group"], series=sets(8, 60),
    )  # fmt: skip
    programs.applied(
        "exercise.add", program, sessionId=ids["c"], programExerciseId=ids["pull"],
        exerciseId=new_id(), name="Deadlift", series=sets(3, 180),
    )  # fmt: skip
    programs.applied("week.copy", program, fromWeek=0, toWeeks=list(range(1, weeks)))
    return ids


def copy_of(programs: Programs, ids: Template, **fields: Any) -> tuple[str, str]:
    """A copy of the template: its id and the copy command's id (its ids derive from it)."""
    copy = new_id()
    command = programs.command("program.copy", ids["program"], newProgramId=copy, **fields)
    result = programs.request(command)
    assert result["status"] == "applied", result
    return copy, command["commandId"]


def copied(command_id: str, source_id: str) -> str:
    return str(uuid5(UUID(command_id), source_id))


def program(programs: Programs, program_id: str) -> Program:
    return programs.programs[UUID(program_id)]


def sync(programs: Programs, copy: str, **fields: Any) -> dict[str, Any]:
    return programs.applied("program.sync", copy, **fields)


def states(result: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(s["sourceSessionId"], s["sessionId"], s["state"]) for s in result["sync"]["sessions"]]


def series_of(programs: Programs, program_id: str, exercise_id: str) -> dict[int, list[int]]:
    by_week = program(programs, program_id).prescriptions[UUID(exercise_id)]
    return {week: [item["reps"] for item in p.series] for week, p in sorted(by_week.items())}


@pytest.fixture
def programs() -> Programs:
    return Programs()


def test_a_copy_knows_where_each_entity_came_from_and_a_sync_right_after_changes_nothing(
    programs: Programs,
) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    sessions = program(programs, copy).sessions
    assert [s.origin for s in sessions] == [UUID(ids[k]) for k in "abc"]
    assert [s.id for s in sessions] == [UUID(copied(made_by, ids[k])) for k in "abc"]
    assert sessions[1].groups[0].origin == UUID(ids["group"])
    assert [e.origin for e in sessions[1].exercises()] == [UUID(ids["bench"]), UUID(ids["row"])]
    assert not any(s.customised for s in sessions)

    result = sync(programs, copy)
    assert [state for _, _, state in states(result)] == ["unchanged"] * 3
    assert result["programVersion"] == 2
    assert result["sync"] == {
        "dryRun": False,
        "sourceProgramVersion": program(programs, ids["program"]).version,
        "sessions": result["sync"]["sessions"],
    }
    applied = programs.apply(programs_command(programs, "program.sync", copy))
    assert [type(e).__name__ for e in applied.events] == ["ProgramEvent"]  # only program.updated


def programs_command(programs: Programs, kind: str, program_id: str, **fields: Any) -> Any:
    """The parsed command, to apply it and read what `Applied` holds (events, report)."""
    document = programs.command(kind, program_id, **fields)
    return COMMANDS.validate_json(json.dumps(document, default=str))


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("session.update", {"name": "Mine"}),
        ("exercise.update", {"programExerciseId": "squat", "notes": "knees out"}),
        ("series.replace", {"programExerciseId": "squat", "week": 1, "series": sets(4, 90)}),
        ("series.add", {"programExerciseId": "squat", "week": 1, "set": {"reps": 1}}),
        ("series.update",
         {"programExerciseId": "squat", "week": 1, "index": 0, "set": {"reps": 4}}),
        ("series.remove", {"programExerciseId": "squat", "week": 1, "index": 0}),
        ("series.move", {"programExerciseId": "squat", "week": 1, "from": 0, "to": 1}),
        ("series.progress",
         {"programExerciseId": "squat", "fromWeek": 0, "toWeeks": [1], "step": {"reps": 1}}),
        ("exercise.remove", {"programExerciseId": "squat"}),
        ("exercise.add", {"programExerciseId": "new", "exerciseId": "new", "name": "Lunge"}),
        ("group.update", {"groupId": "group", "notes": "slow"}),
        ("groups.reorder", {"groupIds": ["group"]}),
        ("week.copy", {"fromWeek": 0, "toWeeks": [2]}),
    ],
)  # fmt: skip
def test_each_operation_the_contract_lists_customises_its_session_even_when_it_changes_nothing(
    programs: Programs, kind: str, fields: dict[str, Any]
) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    session = "a" if kind != "group.update" and fields.get("groupIds") is None else "b"
    resolved = {
        k: (
            copied(made_by, ids[v])
            if isinstance(v, str) and v in ids
            else new_id()
            if v == "new"
            else [copied(made_by, ids[g]) for g in v]
            if k == "groupIds"
            else v
        )
        for k, v in fields.items()
    }
    if kind in ("session.update", "exercise.add", "week.copy", "groups.reorder"):
        resolved["sessionId"] = copied(made_by, ids[session])
    applied = programs.apply(programs_command(programs, kind, copy, **resolved))
    marked = {s.origin: s.customised for s in program(programs, copy).sessions}
    assert marked == {
        UUID(ids["a"]): session == "a",
        UUID(ids["b"]): session == "b",
        UUID(ids["c"]): False,
    }
    announced = [e for e in applied.events if type(e).__name__ == "SessionEvent"]
    assert [e.session.customised for e in announced] == [True]
    assert [states(sync(programs, copy))[i][2] for i in range(3)] == [
        "custom" if session == "a" else "unchanged",
        "custom" if session == "b" else "unchanged",
        "unchanged",
    ]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("session.update", {"dayOffset": 2}),
        ("session.reschedule", {"week": 1, "date": "2027-01-05"}),
        ("program.update", {"name": "Sam's block"}),
        ("week.copy", {"fromWeek": 0, "toWeeks": [2]}),  # without sessionId: the whole program
        ("program.schedule", {"startDate": "2027-01-04"}),
    ],
)
def test_operations_on_the_calendar_or_the_whole_program_customise_nothing(
    programs: Programs, kind: str, fields: dict[str, Any]
) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    if kind.startswith("session."):
        fields = {**fields, "sessionId": copied(made_by, ids["a"])}
    programs.applied(kind, copy, **fields)
    assert not any(s.customised for s in program(programs, copy).sessions)


def test_session_copy_makes_a_session_of_the_copy_own_and_a_rejected_command_marks_nothing(
    programs: Programs,
) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    duplicate = new_id()
    programs.applied(
        "session.copy", copy, sessionId=copied(made_by, ids["a"]), newSessionId=duplicate
    )
    sessions = {s.id: s for s in program(programs, copy).sessions}
    assert sessions[UUID(duplicate)].origin is None
    assert all(e.origin is None for e in sessions[UUID(duplicate)].exercises())
    assert not sessions[UUID(copied(made_by, ids["a"]))].customised
    rejected = programs.run(
        "series.update", copy, programExerciseId=copied(made_by, ids["squat"]), week=1, index=9,
        set={"reps": 4},
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    assert not any(s.customised for s in program(programs, copy).sessions)
    # The sync leaves the copy's own session where it is and as it is.
    assert [state for _, _, state in states(sync(programs, copy))] == ["unchanged"] * 3
    assert UUID(duplicate) in {s.id for s in program(programs, copy).sessions}


def test_the_five_states_and_where_a_new_session_goes(programs: Programs) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    t = ids["program"]
    # The copy: B customised; its own session X added first.
    own = new_id()
    programs.applied("session.add", copy, sessionId=own, name="X", position=0)
    programs.applied(
        "series.replace", copy, programExerciseId=copied(made_by, ids["bench"]), week=0,
        series=sets(3, 85),
    )  # fmt: skip
    # The template: A's squat changes in week 2, C is removed, D is added after B, E first.
    programs.applied(
        "series.replace", t, programExerciseId=ids["squat"], week=2, series=sets(2, 120)
    )
    programs.applied("session.remove", t, sessionId=ids["c"])
    d, e = new_id(), new_id()
    programs.applied("session.add", t, sessionId=d, name="D", position=2)
    programs.applied("session.add", t, sessionId=e, name="E", position=0)

    preview = programs.applied("program.sync", copy, dryRun=True)
    command = programs.command("program.sync", copy)
    result = programs.request(command)
    expected = [
        (e, copied(command["commandId"], e), "new"),
        (ids["a"], copied(made_by, ids["a"]), "synced"),
        (ids["b"], copied(made_by, ids["b"]), "custom"),
        (d, copied(command["commandId"], d), "new"),
        (ids["c"], copied(made_by, ids["c"]), "removed"),
    ]
    assert states(result) == expected
    # A preview tells the same, but for the ids a new session would get (its own command's).
    assert [(s, state) for s, _, state in states(preview)] == [(s, x) for s, _, x in expected]
    assert preview["programVersion"] == 3 and result["programVersion"] == 4
    order = [s.origin for s in program(programs, copy).sessions]
    # E first (no earlier source session), X (the copy's own) then A, B, and D right after B.
    assert order == [UUID(e), None, UUID(ids["a"]), UUID(ids["b"]), UUID(d)]
    assert series_of(programs, copy, copied(made_by, ids["squat"]))[2] == [2, 2, 2]
    assert series_of(programs, copy, copied(made_by, ids["bench"]))[0] == [3, 3, 3]  # kept


def test_a_dry_run_changes_nothing_and_announces_nothing(programs: Programs) -> None:
    ids = template(programs)
    copy, _ = copy_of(programs, ids)
    programs.applied("session.remove", ids["program"], sessionId=ids["c"])
    before = programs.snapshot()
    applied = programs.apply(programs_command(programs, "program.sync", copy, dryRun=True))
    assert applied.events == [] and applied.dry_run and applied.version == 1
    assert applied.report is not None and applied.report["dryRun"] is True
    assert programs.snapshot() == before


def test_override_takes_a_customised_and_a_removed_session_back(programs: Programs) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    a, c = copied(made_by, ids["a"]), copied(made_by, ids["c"])
    programs.applied("session.update", copy, sessionId=a, name="Mine")
    programs.applied("session.remove", copy, sessionId=c)
    assert program(programs, copy).removed_origins == {UUID(ids["c"])}
    assert [x[1:] for x in states(sync(programs, copy))] == [
        (a, "custom"), (copied(made_by, ids["b"]), "unchanged"), (None, "custom"),
    ]  # fmt: skip
    command = programs.command("program.sync", copy, override=[ids["a"], ids["c"]])
    result = programs.request(command)
    assert [x[1:] for x in states(result)] == [
        (a, "synced"), (copied(made_by, ids["b"]), "unchanged"),
        (copied(command["commandId"], ids["c"]), "new"),
    ]  # fmt: skip
    taken = program(programs, copy)
    assert [s.name for s in taken.sessions] == ["A", "B", "C"]
    assert not any(s.customised for s in taken.sessions)
    assert taken.removed_origins == frozenset()


def test_an_overridden_unchanged_session_is_no_longer_customised(programs: Programs) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    a = copied(made_by, ids["a"])
    programs.applied("session.update", copy, sessionId=a, name="A")  # same name: customised
    applied = programs.apply(programs_command(programs, "program.sync", copy, override=[ids["a"]]))
    assert applied.report is not None
    assert applied.report["sessions"][0]["state"] == "unchanged"
    assert not program(programs, copy).sessions[0].customised
    announced = [e.session.customised for e in applied.events if type(e).__name__ == "SessionEvent"]
    assert announced == [False]  # its customised mark changed: announced


def test_from_week_keeps_earlier_weeks_and_a_removed_exercise_goes_whole(
    programs: Programs,
) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    t = ids["program"]
    for week in range(4):
        programs.applied(
            "series.replace", t, programExerciseId=ids["squat"], week=week, series=sets(1, 150)
        )
    programs.applied("exercise.remove", t, programExerciseId=ids["row"])
    result = sync(programs, copy, fromWeek=2)
    assert [s for _, _, s in states(result)] == ["synced", "synced", "unchanged"]
    squat = copied(made_by, ids["squat"])
    assert series_of(programs, copy, squat) == {0: [5] * 3, 1: [5] * 3, 2: [1] * 3, 3: [1] * 3}
    copy_program = program(programs, copy)
    assert UUID(copied(made_by, ids["row"])) not in copy_program.exercise_ids()
    assert UUID(copied(made_by, ids["row"])) not in copy_program.prescriptions


def test_a_new_exercise_in_an_existing_session_gets_a_derived_id_and_an_empty_week_0(
    programs: Programs,
) -> None:
    ids = template(programs)
    copy, _ = copy_of(programs, ids)
    lunge = new_id()
    programs.applied(
        "exercise.add", ids["program"], sessionId=ids["a"], programExerciseId=lunge,
        exerciseId=new_id(), name="Lunge", series=sets(10, 20),
    )  # fmt: skip
    programs.applied("week.copy", ids["program"], sessionId=ids["a"], fromWeek=0, toWeeks=[1, 2, 3])
    command = programs.command("program.sync", copy, fromWeek=2)
    programs.request(command)
    mine = copied(command["commandId"], lunge)
    assert series_of(programs, copy, mine) == {0: [], 2: [10] * 3, 3: [10] * 3}
    prescription = program(programs, copy).prescriptions[UUID(mine)][2]
    assert prescription.id == uuid5(UUID(command["commandId"]), f"prescription:{mine}:2")
    assert program(programs, copy).sessions[0].groups[1].exercises[0].origin == UUID(lunge)


def test_a_session_the_source_deleted_stays_when_the_copy_customised_it(programs: Programs) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    c = copied(made_by, ids["c"])
    programs.applied(
        "exercise.update", copy, programExerciseId=copied(made_by, ids["pull"]), name="Sumo"
    )
    programs.applied("session.remove", ids["program"], sessionId=ids["c"])
    result = sync(programs, copy)
    assert states(result)[-1] == (ids["c"], c, "custom")
    assert UUID(c) in {s.id for s in program(programs, copy).sessions}


def test_a_copy_of_a_copy_syncs_from_the_first_copy(programs: Programs) -> None:
    ids = template(programs)
    first, first_by = copy_of(programs, ids)
    second, second_by = copy_of(programs, {"program": first})
    assert program(programs, second).sessions[0].origin == UUID(copied(first_by, ids["a"]))
    squat = copied(first_by, ids["squat"])
    programs.applied("series.replace", first, programExerciseId=squat, week=3, series=sets(1, 160))
    result = sync(programs, second)
    assert [s for _, _, s in states(result)] == ["synced", "unchanged", "unchanged"]
    assert series_of(programs, second, copied(second_by, squat))[3] == [1] * 3
    assert result["sync"]["sourceProgramVersion"] == program(programs, first).version


def test_a_sync_right_after_another_finds_everything_unchanged(programs: Programs) -> None:
    ids = template(programs)
    copy, _ = copy_of(programs, ids)
    programs.applied(
        "series.replace", ids["program"], programExerciseId=ids["pull"], week=1, series=sets(1, 200)
    )
    assert [s for _, _, s in states(sync(programs, copy))] == ["unchanged", "unchanged", "synced"]
    second = programs.apply(programs_command(programs, "program.sync", copy))
    assert second.report is not None
    assert {s["state"] for s in second.report["sessions"]} == {"unchanged"}
    assert second.version == 3
    assert [type(e).__name__ for e in second.events] == ["ProgramEvent"]


def test_the_events_of_a_sync_are_exactly_what_changed(programs: Programs) -> None:
    ids = template(programs)
    copy, made_by = copy_of(programs, ids)
    programs.applied(
        "series.replace",
        ids["program"],
        programExerciseId=ids["squat"],
        week=1,
        series=sets(2, 130),
    )
    programs.applied("program.update", ids["program"], weekLabels=[{"week": 3, "label": "Deload"}])
    applied = programs.apply(programs_command(programs, "program.sync", copy, fromWeek=1))
    squat = UUID(copied(made_by, ids["squat"]))
    announced = [
        (e.prescription.program_exercise_id, e.prescription.week, e.prescription.version)
        for e in applied.events
        if type(e).__name__ == "PrescriptionEvent"
    ]
    assert announced == [(squat, 1, 2)]
    kinds = [type(e).__name__ for e in applied.events]
    assert kinds == ["PrescriptionEvent", "ProgramEvent"]
    assert program(programs, copy).week_labels == {3: "Deload"}


def test_the_copy_takes_the_source_weeks_and_labels_from_from_week(programs: Programs) -> None:
    ids = template(programs, weeks=4)
    copy, made_by = copy_of(programs, ids)
    programs.applied(
        "program.update",
        copy,
        weekLabels=[{"week": 0, "label": "Mine"}, {"week": 3, "label": "Mine too"}],
    )
    programs.applied(
        "session.reschedule", copy, sessionId=copied(made_by, ids["b"]), week=3, date="2027-02-01"
    )
    programs.applied(
        "program.update", ids["program"], weeks=2, weekLabels=[{"week": 1, "label": "Test"}]
    )
    sync(programs, copy, fromWeek=1)
    result = program(programs, copy)
    assert result.weeks == 2
    assert result.week_labels == {0: "Mine", 1: "Test"}
    assert all(week < 2 for by_week in result.prescriptions.values() for week in by_week)
    assert all(not s.rescheduled for s in result.sessions)


def test_the_rejections_in_the_contracts_order(programs: Programs) -> None:
    ids = template(programs)
    copy, _ = copy_of(programs, ids)
    not_a_copy = programs.run("program.sync", ids["program"])
    assert not_a_copy["error"]["code"] == "invariant_violated", not_a_copy
    unknown = programs.run("program.sync", copy, override=[ids["a"], new_id()])
    assert unknown["error"]["code"] == "not_found"
    assert unknown["error"]["details"][0]["path"] == "override[1]"
    too_late = programs.run("program.sync", copy, fromWeek=4)
    assert too_late["error"]["code"] == "invariant_violated"
    assert too_late["error"]["details"][0]["path"] == "fromWeek"
    twice = programs.run("program.sync", copy, override=[ids["a"], ids["a"]])
    assert twice["error"]["code"] == "validation_failed"
    programs.applied("program.delete", ids["program"])
    gone = programs.run("program.sync", copy, override=[new_id()], fromWeek=9)
    assert gone["error"]["code"] == "not_found"
    assert gone["error"]["details"][0]["path"] == "source"


def test_a_copy_whose_origins_are_unknown_cannot_be_synced(programs: Programs) -> None:
    ids = template(programs)
    copy, _ = copy_of(programs, ids)
    program(programs, copy).origins_known = False  # as the migration leaves such a copy
    refused = programs.run("program.sync", copy)
    assert refused["error"]["code"] == "invariant_violated"
    assert refused["error"]["details"][0]["path"] == "source"
    assert "copied before v1.3" in refused["error"]["message"]
