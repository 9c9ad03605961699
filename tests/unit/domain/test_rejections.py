"""Every rejection a command can get, as the service decides it (the bytes parsed as the consumer
parses them, then the domain core), in milliseconds: the code, the path of its first detail, a
message, no program version, and every program exactly as it was.

These matrices ran end to end before, one broker round trip per case; one rejection per command
family still travels through the broker in tests/e2e (series, structure, batch)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from service.clients.client import Document
from tests.support.domain import Programs
from tests.support.programs import legacy_ids, legacy_program, new_id

Case = tuple[str, dict[str, Any], str, str]  # type, fields, code, path


@pytest.fixture
def programs() -> Programs:
    return Programs()


def assert_refused(
    programs: Programs,
    program_id: str,
    kind: str,
    fields: dict[str, Any],
    code: str,
    path: str | None,
) -> Document:
    """`path` None: the path is not checked (see the full-group case)."""
    before = programs.snapshot()
    result = programs.run(kind, program_id, **fields)
    assert result["status"] == "rejected", (kind, fields, result)
    error = result["error"]
    assert error["code"] == code, (kind, fields, error)
    if path is not None:
        assert error["details"][0]["path"] == path, (kind, fields, error)
    assert error["message"] and error["details"][0]["reason"], error
    assert result["programVersion"] is None
    assert programs.snapshot() == before, "a rejection leaves every program as it was"
    return result


def refused_all(programs: Programs, program_id: str, cases: list[Case]) -> None:
    for kind, fields, code, path in cases:
        assert_refused(programs, program_id, kind, fields, code, path)


# --- series


@pytest.mark.parametrize(
    ("kind", "fields", "code", "path"),
    [
        ("series.add", {"week": 2, "set": {"reps": 5}}, "not_found", "week"),
        ("series.update", {"week": 2, "index": 0, "set": {"reps": 5}}, "not_found", "week"),
        ("series.remove", {"index": 3}, "invariant_violated", "index"),
        ("series.move", {"from": 0, "to": 1}, "invariant_violated", "to"),
        ("series.replace", {"week": 4, "series": []}, "invariant_violated", "week"),
        (
            "series.update",
            {"index": 0, "set": {"repsMin": 3, "repsMax": 5}},
            "invariant_violated",
            "set",
        ),
        ("series.add", {"set": {"reps": 5, "rpe": 8.2}}, "validation_failed", "set.rpe"),
        ("series.replace", {"series": [{"reps": 1}] * 51}, "validation_failed", "series"),
    ],
)
def test_series_rejections(
    programs: Programs, kind: str, fields: dict[str, Any], code: str, path: str
) -> None:
    ids = programs.build_program()
    fields = {"programExerciseId": ids["squat"], **fields}
    assert_refused(programs, ids["program"], kind, fields, code, path)
    assert programs.programs[uuid.UUID(ids["program"])].version == 5


# --- structure


def test_exercise_add_rejections(programs: Programs) -> None:
    ids = programs.build_program()
    program = ids["program"]

    def exercise(**fields: Any) -> dict[str, Any]:
        return {
            "sessionId": ids["session"],
            "programExerciseId": new_id(),
            "exerciseId": new_id(),
            "name": "X",
            **fields,
        }

    refused_all(
        programs,
        program,
        [
            ("exercise.add", exercise(sessionId=new_id()), "not_found", "sessionId"),
            (
                "exercise.add",
                exercise(programExerciseId=ids["squat"]),
                "conflict",
                "programExerciseId",
            ),
        ],
    )
    for _ in range(10):
        programs.applied("exercise.add", program, **exercise(groupId=ids["group"]))
    thirteenth = exercise(name="One too many", groupId=ids["group"])
    assert_refused(programs, program, "exercise.add", thirteenth, "invariant_violated", "groupId")


def test_exercise_move_rejections(programs: Programs) -> None:
    ids = programs.build_program()
    other = programs.build_program()
    squat, row, group = ids["squat"], ids["row"], ids["group"]
    move = "exercise.move"
    refused_all(
        programs,
        ids["program"],
        [
            (
                move,
                {"programExerciseId": new_id(), "toNewGroupAt": 0},
                "not_found",
                "programExerciseId",
            ),
            (move, {"programExerciseId": squat, "toGroupId": new_id()}, "not_found", "toGroupId"),
            (
                move,
                {"programExerciseId": squat, "toGroupId": other["group"]},
                "not_found",
                "toGroupId",
            ),
            (
                move,
                {"programExerciseId": squat, "toNewGroupAt": 0, "toSessionId": new_id()},
                "not_found",
                "toSessionId",
            ),
            (
                move,
                {"programExerciseId": squat, "toGroupId": group, "position": 3},
                "invariant_violated",
                "position",
            ),
            (
                move,
                {"programExerciseId": row, "toNewGroupAt": 3},
                "invariant_violated",
                "toNewGroupAt",
            ),
            (
                move,
                {"programExerciseId": squat, "toNewGroupAt": 0, "newGroupId": group},
                "conflict",
                "newGroupId",
            ),
            (
                move,
                {"programExerciseId": squat, "toGroupId": group, "toNewGroupAt": 0},
                "validation_failed",
                "",
            ),
        ],
    )


def test_exercise_move_into_a_full_group_is_refused(programs: Programs) -> None:
    ids = programs.build_program()
    program, session = ids["program"], ids["session"]
    fillers = [
        {
            "type": "exercise.add",
            "sessionId": session,
            "programExerciseId": new_id(),
            "exerciseId": new_id(),
            "name": f"Filler {n}",
            "groupId": ids["group"],
        }
        for n in range(10)
    ]
    programs.applied("batch", program, operations=fillers)
    full = assert_refused(
        programs,
        program,
        "exercise.move",
        {"programExerciseId": ids["squat"], "toGroupId": ids["group"]},
        "invariant_violated",
        "toGroupId",
    )
    assert "12" in full["error"]["message"]
    groups = programs.programs[uuid.UUID(program)].sessions[0].groups
    assert len(groups[1].exercises) == 12


def test_exercises_group_rejections(programs: Programs) -> None:
    ids = programs.build_program()
    program, session, squat, row = ids["program"], ids["session"], ids["squat"], ids["row"]
    day2, elsewhere = new_id(), new_id()
    programs.applied("session.add", program, sessionId=day2, name="Day 2")
    programs.applied(
        "exercise.add",
        program,
        sessionId=day2,
        programExerciseId=elsewhere,
        exerciseId=new_id(),
        name="Lunge",
    )
    group = "exercises.group"
    refused_all(
        programs,
        program,
        [
            (
                group,
                {"sessionId": new_id(), "programExerciseIds": [squat, row]},
                "not_found",
                "sessionId",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat, new_id()]},
                "not_found",
                "programExerciseIds[1]",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat, elsewhere]},
                "invariant_violated",
                "programExerciseIds[1]",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat, row], "position": 3},
                "invariant_violated",
                "position",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat, row], "groupId": ids["group"]},
                "conflict",
                "groupId",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat]},
                "validation_failed",
                "programExerciseIds",
            ),
            (
                group,
                {"sessionId": session, "programExerciseIds": [squat, squat]},
                "validation_failed",
                "",
            ),
        ],
    )


def test_group_update_ungroup_and_reorder_rejections(programs: Programs) -> None:
    """On the session of the e2e test of these commands once it ended: four standalone groups,
    the first still with the superset's id."""
    ids = programs.build_program()
    program, session, superset = ids["program"], ids["session"], ids["group"]
    programs.applied(
        "exercise.add",
        program,
        sessionId=session,
        programExerciseId=new_id(),
        exerciseId=new_id(),
        name="Curl",
        groupId=superset,
    )
    programs.applied(
        "groups.reorder", program, sessionId=session, groupIds=_group_ids(programs, program)[::-1]
    )
    programs.applied("group.ungroup", program, groupId=superset)
    group_ids = _group_ids(programs, program)
    assert len(group_ids) == 4 and group_ids[0] == superset
    refused_all(
        programs,
        program,
        [
            ("group.update", {"groupId": new_id(), "rounds": 2}, "not_found", "groupId"),
            ("group.update", {"groupId": superset, "rounds": 21}, "validation_failed", "rounds"),
            ("group.update", {"groupId": superset}, "validation_failed", ""),
            ("group.ungroup", {"groupId": new_id()}, "not_found", "groupId"),
            (
                "groups.reorder",
                {"sessionId": session, "groupIds": group_ids[1:]},
                "invariant_violated",
                "groupIds",
            ),
            (
                "groups.reorder",
                {"sessionId": session, "groupIds": [*group_ids[1:], group_ids[1]]},
                "invariant_violated",
                "groupIds",
            ),
            (
                "groups.reorder",
                {"sessionId": new_id(), "groupIds": group_ids},
                "not_found",
                "sessionId",
            ),
        ],
    )


def test_session_copy_rejections(programs: Programs) -> None:
    ids = programs.build_program(weeks=3)
    program, session, day2 = ids["program"], ids["session"], new_id()
    programs.applied("session.add", program, sessionId=day2, name="Day 2")
    refused_all(
        programs,
        program,
        [
            (
                "session.copy",
                {"sessionId": new_id(), "newSessionId": new_id()},
                "not_found",
                "sessionId",
            ),
            (
                "session.copy",
                {"sessionId": session, "newSessionId": day2},
                "conflict",
                "newSessionId",
            ),
            (
                "session.copy",
                {"sessionId": session, "newSessionId": new_id(), "position": 4},
                "invariant_violated",
                "position",
            ),
        ],
    )


# --- whole programs


def test_batch_rejections(programs: Programs) -> None:
    ids = programs.build_program()
    squat = ids["squat"]
    failing = [
        {"type": "program.update", "name": "Renamed"},
        {"type": "exercise.remove", "programExerciseId": ids["bench"]},
        {"type": "series.remove", "programExerciseId": squat, "index": 1},
    ]
    cases: list[tuple[list[dict[str, Any]], str, str]] = [
        (failing, "invariant_violated", "operations[2].index"),
        ([], "validation_failed", "operations"),
        ([{"type": "program.update", "name": "x"}] * 201, "validation_failed", "operations"),
        ([{"type": "program.create", "name": "x"}], "validation_failed", "operations[0].type"),
        ([{"type": "batch", "operations": []}], "validation_failed", "operations[0].type"),
        (
            [{"type": "series.add", "programExerciseId": squat, "set": {"reps": -1}}],
            "validation_failed",
            "operations[0].set.reps",
        ),
        (
            [{"type": "session.remove", "sessionId": new_id()}],
            "not_found",
            "operations[0].sessionId",
        ),
    ]
    refused_all(
        programs,
        ids["program"],
        [("batch", {"operations": operations}, code, path) for operations, code, path in cases],
    )


def test_malformed_legacy_snapshot_is_refused_with_the_path(programs: Programs) -> None:
    ids = legacy_ids()

    def twelve_plus_one(snapshot: dict[str, Any]) -> None:
        session = snapshot["sessions"][1]
        for n in range(11):
            session["exercises"].append(
                {
                    **session["exercises"][0],
                    "programExerciseId": new_id(),
                    "orderIndex": 2 + n,
                    "prescriptionRows": [],
                }
            )

    changes: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (
            lambda s: s["sessions"][0]["exercises"][2].update(orderIndex=1),
            "program.sessions[0].exercises[2].orderIndex",
        ),
        (
            lambda s: s["sessions"][0]["exercises"][0]["prescriptionRows"][0].update(sets=0),
            "program.sessions[0].exercises[0].prescriptionRows[0].sets",
        ),
        (
            lambda s: s["sessions"][0]["exercises"][3].update(superset="A"),
            "program.sessions[0].exercises[3].superset",
        ),
        (
            lambda s: s["sessions"][1]["exercises"][0]["prescriptionRows"][0].update(week=2),
            "program.sessions[1].exercises[0].prescriptionRows[0].week",
        ),
        (
            lambda s: s["sessions"][1]["exercises"][1].update(programExerciseId=ids["bench"]),
            "program.sessions[1].exercises[1].programExerciseId",
        ),
        # The 13th member in supersetOrder is the plank (supersetOrder 1, after eleven 0s).
        (twelve_plus_one, "program.sessions[1].exercises[1].supersetGroup"),
    ]
    for change, path in changes:
        snapshot = copy.deepcopy(legacy_program(ids))
        change(snapshot)
        assert_refused(
            programs,
            ids["program"],
            "program.import",
            {"program": snapshot},
            "validation_failed",
            path,
        )
    assert programs.programs == {}
    # The snapshot unchanged imports: the refusals were the changes'.
    programs.applied("program.import", ids["program"], program=legacy_program(ids))


def _group_ids(programs: Programs, program: str) -> list[str]:
    return [str(g.id) for g in programs.programs[uuid.UUID(program)].sessions[0].groups]
