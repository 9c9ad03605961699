"""`program.revert` through the domain alone: back to each earlier version over a history
that holds every command type (syncs and reverts included), back to version 1, the 100-version
reach, an id another program holds now, prescription versions, and the kept versions' undos."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from pydantic import TypeAdapter

from contracts.commands import Command
from service.domain.commands import Applied
from service.domain.events import PrescriptionEvent, SessionEvent
from tests.support.domain import Programs, content
from tests.support.programs import new_id
from tests.unit.domain.test_sync import copied, copy_of, sets, template

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)


def run(programs: Programs, kind: str, program_id: str, **fields: Any) -> Applied:
    document = programs.command(kind, program_id, **fields)
    return programs.apply(COMMANDS.validate_json(json.dumps(document, default=str)))


def every_command_type(programs: Programs) -> tuple[str, list[tuple[int, tuple[Any, ...]]]]:
    """A copy of a template through a command of every type that makes a version, and the
    content it had at each version."""
    ids = template(programs)
    copy, by = copy_of(programs, ids)
    a, b, c = (copied(by, ids[k]) for k in "abc")
    squat, bench, row, pull = (copied(by, ids[k]) for k in ("squat", "bench", "row", "pull"))
    group = copied(by, ids["group"])
    max_of = [{"exerciseId": new_id(), "value": 100, "unit": "kg"}]
    extra, lunge, solo = new_id(), new_id(), new_id()
    steps: list[tuple[str, dict[str, Any]]] = [
        ("program.update", {"name": "Sam", "weekLabels": [{"week": 1, "label": "Heavy"}]}),
        ("session.add", {"sessionId": extra, "name": "Extra", "dayOffset": 4}),
        ("exercise.add", {"sessionId": extra, "programExerciseId": lunge, "exerciseId": new_id(),
                          "name": "Lunge", "series": sets(10, 20),
                          "warmup": {"steps": [{"percent": 50, "reps": 5}]}}),
        ("series.replace", {"programExerciseId": squat, "week": 1, "series": sets(3, 120)}),
        ("series.add", {"programExerciseId": squat, "week": 1, "set": {"reps": 1, "rpe": 9}}),
        ("series.update", {"programExerciseId": squat, "week": 1, "index": 0, "set": {"reps": 2}}),
        ("series.move", {"programExerciseId": squat, "week": 1, "from": 0, "to": 2}),
        ("series.remove", {"programExerciseId": squat, "week": 1, "index": 1}),
        ("series.progress", {"programExerciseId": squat, "fromWeek": 1, "toWeeks": [2, 3],
                             "step": {"reps": 1}}),
        ("exercise.move", {"programExerciseId": pull, "toSessionId": a, "toNewGroupAt": 0}),
        ("exercises.group", {"sessionId": a, "programExerciseIds": [pull, squat]}),
        ("group.update", {"groupId": group, "rounds": 3, "format": "emom", "intervalSeconds": 60}),
        ("group.ungroup", {"groupId": group}),
        ("groups.reorder", {"sessionId": b, "groupIds": None}),
        ("exercise.update", {"programExerciseId": bench, "name": "Close-grip bench",
                             "notes": "elbows in"}),
        ("exercise.remove", {"programExerciseId": row}),
        ("session.copy", {"sessionId": extra, "newSessionId": solo, "name": "Extra 2"}),
        ("session.remove", {"sessionId": c}),
        ("week.copy", {"fromWeek": 1, "toWeeks": [3], "sessionId": a}),
        ("week.insert", {"at": 1}),
        ("week.remove", {"week": 0}),
        ("program.assign", {"athlete": {"athleteId": "sam", "maxes": max_of}}),
        ("maxes.set", {"maxes": [{**max_of[0], "value": 110}]}),
        ("program.schedule", {"startDate": "2027-01-04"}),
        ("session.update", {"sessionId": a, "name": "A (Sam)", "dayOffset": 1}),
        ("session.reschedule", {"sessionId": a, "week": 2, "date": "2027-01-30"}),
        ("batch", {"operations": [
            {"type": "program.update", "weeks": 5},
            {"type": "series.replace", "programExerciseId": squat, "week": 4, "series": sets(1, 1)},
        ]}),
        ("program.unassign", {}),
        ("program.sync", {"override": [ids["a"], ids["c"]], "fromWeek": 1}),
    ]  # fmt: skip
    # The template changes before the sync, so that it has something to do.
    run(programs, "series.replace", ids["program"], programExerciseId=ids["squat"], week=0,
        series=sets(8, 60))  # fmt: skip
    versions = [(1, content(programs.programs[UUID(copy)]))]
    for kind, given in steps:
        fields = dict(given)
        if kind == "groups.reorder":
            session = next(s for s in programs.programs[UUID(copy)].sessions if s.id == UUID(b))
            fields["groupIds"] = [str(g.id) for g in reversed(session.groups)]
        applied = run(programs, kind, copy, **fields)
        versions.append((applied.version, content(programs.programs[UUID(copy)])))
    assert [v for v, _ in versions] == list(range(1, len(steps) + 2))
    return copy, versions


def test_back_to_each_version_over_a_history_of_every_command_type() -> None:
    programs = Programs()
    copy, versions = every_command_type(programs)
    athlete = programs.programs[UUID(copy)].athlete
    # Newest first, so that later reverts go back over earlier ones too.
    for version, then in reversed(versions[:-1]):
        applied = run(programs, "program.revert", copy, toVersion=version)
        now = programs.programs[UUID(copy)]
        assert content(now) == then, version
        assert now.athlete == athlete  # the athlete stays
        assert applied.version == now.version
    # And forward again: a revert is a version like any other.
    last = programs.programs[UUID(copy)].version
    run(programs, "program.revert", copy, toVersion=last - len(versions) + 2)


def test_back_to_version_1_of_an_import_and_over_a_sync() -> None:
    programs = Programs()
    ids = template(programs)
    copy, by = copy_of(programs, ids)
    first = content(programs.programs[UUID(copy)])
    run(programs, "series.replace", copy, programExerciseId=copied(by, ids["squat"]), week=0,
        series=sets(1, 200))  # fmt: skip
    run(programs, "series.replace", ids["program"], programExerciseId=ids["pull"], week=2,
        series=sets(1, 220))  # fmt: skip
    run(programs, "session.remove", ids["program"], sessionId=ids["b"])
    before_sync = content(programs.programs[UUID(copy)])
    run(programs, "program.sync", copy)
    assert content(programs.programs[UUID(copy)]) != before_sync
    run(programs, "program.revert", copy, toVersion=2)
    assert content(programs.programs[UUID(copy)]) == before_sync
    run(programs, "program.revert", copy, toVersion=1)
    assert content(programs.programs[UUID(copy)]) == first


def test_versions_of_what_a_revert_changes_and_brings_back() -> None:
    programs = Programs()
    ids = template(programs)
    program = ids["program"]
    squat = UUID(ids["squat"])
    run(
        programs,
        "series.replace",
        program,
        programExerciseId=ids["squat"],
        week=1,
        series=sets(2, 1),
    )
    changed_at = programs.programs[UUID(program)].prescriptions[squat][1].version
    at_v = programs.programs[UUID(program)].version
    removed = programs.programs[UUID(program)].prescriptions[UUID(ids["pull"])][2]
    run(programs, "session.remove", program, sessionId=ids["c"])
    applied = run(programs, "program.revert", program, toVersion=at_v - 1)
    events = {
        (e.prescription.program_exercise_id, e.prescription.week): e
        for e in applied.events
        if isinstance(e, PrescriptionEvent)
    }
    assert events[(squat, 1)].prescription.version == changed_at + 1  # current + 1
    back = events[(UUID(ids["pull"]), 2)].prescription
    # Deleted with version + 1, so brought back with version + 2: a key's version only grows
    # (CONTRACT.md § Events; its `program.revert` text says "its version at toVersion + 1",
    # which would repeat the version of its deleted event: the one place the service departs
    # from the text).
    assert (back.id, back.version) == (removed.id, removed.version + 2)
    assert {(e.session.id, e.deleted) for e in applied.events if isinstance(e, SessionEvent)} == {
        (UUID(ids["c"]), False)
    }
    # What did not change is not announced: the bench's prescriptions, sessions A and B.
    assert (UUID(ids["bench"]), 0) not in events


def test_the_reach_is_the_last_100_versions() -> None:
    programs = Programs()
    ids = template(programs)
    program = ids["program"]
    for n in range(101):
        run(programs, "program.update", program, name=f"Name {n}")
    version = programs.programs[UUID(program)].version
    refused = programs.run("program.revert", program, toVersion=version - 101)
    assert refused["error"]["code"] == "invariant_violated"
    assert refused["error"]["details"][0]["path"] == "toVersion"
    assert f"oldest version it keeps is {version - 100}" in refused["error"]["message"]
    assert programs.applied("program.revert", program, toVersion=version - 100)
    for to_version in (version + 1, version + 1 + 1):
        ahead = programs.run("program.revert", program, toVersion=to_version)
        assert ahead["error"]["code"] == "invariant_violated"


def test_an_id_another_program_holds_now_is_a_conflict_and_nothing_changes() -> None:
    programs = Programs()
    ids = template(programs)
    program = ids["program"]
    version = programs.programs[UUID(program)].version
    run(programs, "session.remove", program, sessionId=ids["c"])
    other = new_id()
    programs.applied("program.create", other, name="Other")
    programs.applied("session.add", other, sessionId=ids["c"], name="Took the id")
    before = programs.snapshot()
    refused = programs.run("program.revert", program, toVersion=version)
    assert refused["error"]["code"] == "conflict", refused
    assert ids["c"] in refused["error"]["message"]
    assert programs.snapshot() == before


@pytest.mark.parametrize("to_version", [0, -1])
def test_to_version_is_at_least_1(to_version: int) -> None:
    programs = Programs()
    refused = programs.run("program.revert", new_id(), toVersion=to_version)
    assert refused["error"]["code"] == "validation_failed"


def test_a_revert_announces_the_program_only_when_its_own_fields_change() -> None:
    programs = Programs()
    ids = template(programs)
    program = ids["program"]
    version = programs.programs[UUID(program)].version
    run(
        programs,
        "series.replace",
        program,
        programExerciseId=ids["squat"],
        week=1,
        series=sets(1, 1),
    )
    only_series = run(programs, "program.revert", program, toVersion=version)
    assert [type(e).__name__ for e in only_series.events] == ["PrescriptionEvent"]
    run(programs, "program.update", program, name="Renamed")
    renamed_back = run(programs, "program.revert", program, toVersion=version + 2)
    assert [type(e).__name__ for e in renamed_back.events] == ["ProgramEvent"]
    assert programs.programs[UUID(program)].name == "Template"
