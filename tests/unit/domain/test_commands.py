"""The domain core, without I/O: command semantics, rejections, derived ids and events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from pydantic import TypeAdapter

from contracts.commands import Command
from service.apply.wire import event_payload
from service.domain.commands import Applied, Context, apply
from service.domain.errors import Conflict, InvariantViolated, NotFound, Rejection
from service.domain.model import Program

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Editor:
    """Applies commands to one program as the service would, keeping the last outcome."""

    def __init__(self, tenant: str = "coach") -> None:
        self.program_id = uuid.uuid4()
        self.tenant = tenant
        self.program: Program | None = None
        self.taken: set[UUID] = set()
        self.last: Applied | None = None

    def command(self, kind: str, **fields: Any) -> Any:
        document = {
            "commandId": str(uuid.uuid4()),
            "type": kind,
            "tenantId": self.tenant,
            "programId": str(self.program_id),
            **fields,
        }
        return COMMANDS.validate_json(json.dumps(document, default=str))

    def run(self, kind: str, **fields: Any) -> Applied:
        applied = apply(
            self.program, self.command(kind, **fields), Context(NOW, self.taken.__contains__)
        )
        self.program, self.last = applied.program, applied
        return applied

    def refused(self, kind: str, **fields: Any) -> Rejection:
        before = self.snapshot()
        with pytest.raises(Rejection) as caught:
            self.run(kind, **fields)
        assert self.snapshot() == before, "a rejection leaves the program as it was"
        return caught.value

    def snapshot(self) -> Any:
        if self.program is None:
            return None
        return repr(self.program.sessions), repr(self.program.prescriptions), self.program.version

    def events(self, kind: str) -> list[dict[str, Any]]:
        assert self.last is not None
        return [p for p in map(event_payload, self.last.events) if p["type"] == kind]


def sets(count: int) -> list[dict[str, Any]]:
    return [{"reps": 5, "restSeconds": 120}] * count


@pytest.fixture
def editor() -> Editor:
    editor = Editor()
    editor.run("program.create", name="Block", weeks=4)
    return editor


def add_exercise(editor: Editor, session: UUID, **fields: Any) -> UUID:
    exercise = uuid.uuid4()
    editor.run(
        "exercise.add",
        sessionId=session,
        programExerciseId=exercise,
        exerciseId=uuid.uuid4(),
        name="Squat",
        **fields,
    )
    return exercise


def with_session(editor: Editor) -> UUID:
    session = uuid.uuid4()
    editor.run("session.add", sessionId=session, name="Day 1")
    return session


def test_create_and_version(editor: Editor) -> None:
    assert editor.program is not None and editor.program.version == 1
    editor.run("program.update", weeks=6)
    assert editor.program.weeks == 6 and editor.program.version == 2


def test_other_tenant_is_not_found_without_a_hint(editor: Editor) -> None:
    editor.tenant = "someone-else"
    rejection = editor.refused("program.update", name="Mine now")
    assert isinstance(rejection, NotFound)
    stranger = Editor(tenant="someone-else")  # a program that does not exist at all
    with pytest.raises(NotFound) as missing:
        stranger.run("program.update", name="Mine now")
    anonymised = str(rejection).replace(str(editor.program_id), "<id>")
    assert anonymised == str(missing.value).replace(str(stranger.program_id), "<id>")


def test_expected_version_mismatch_is_a_conflict(editor: Editor) -> None:
    assert isinstance(editor.refused("program.update", name="X", expectedVersion=5), Conflict)
    editor.run("program.update", name="X", expectedVersion=1)


def test_create_twice_is_a_conflict(editor: Editor) -> None:
    assert isinstance(editor.refused("program.create", name="Again"), Conflict)


def test_unknown_program_is_not_found() -> None:
    with pytest.raises(NotFound):
        Editor().run("session.add", sessionId=uuid.uuid4(), name="Day")


def test_exercise_add_creates_standalone_group_with_derived_id(editor: Editor) -> None:
    session = with_session(editor)
    exercise = add_exercise(editor, session, series=sets(3))
    assert editor.last is not None and editor.program is not None
    command_id = event_payload(editor.last.events[0])["causationId"]
    group = editor.program.sessions[0].groups[0]
    assert group.id == uuid.uuid5(UUID(command_id), "group")
    prescription = editor.program.prescriptions_of(exercise)[0]
    assert prescription.id == uuid.uuid5(UUID(command_id), f"prescription:{exercise}:0")
    [event] = editor.events("prescription.updated")
    assert event["group"]["kind"] == "standalone"
    assert [s["orderIndex"] for s in event["series"]] == [0, 1, 2]


def test_group_kind_follows_size_and_every_member_is_announced(editor: Editor) -> None:
    session = with_session(editor)
    first = add_exercise(editor, session)
    assert editor.program is not None
    group = editor.program.sessions[0].groups[0].id
    add_exercise(editor, session, groupId=group)
    kinds = {
        e["programExerciseId"]: e["group"]["kind"] for e in editor.events("prescription.updated")
    }
    assert set(kinds.values()) == {"superset"} and str(first) in kinds
    add_exercise(editor, session, groupId=group, position=0)
    events = editor.events("prescription.updated")
    assert len(events) == 3 and {e["group"]["kind"] for e in events} == {"circuit"}
    assert sorted(e["group"]["orderWithinGroup"] for e in events) == [0, 1, 2]


def test_group_holds_at_most_12_exercises(editor: Editor) -> None:
    session = with_session(editor)
    add_exercise(editor, session)
    assert editor.program is not None
    group = editor.program.sessions[0].groups[0].id
    for _ in range(11):
        add_exercise(editor, session, groupId=group)
    rejection = editor.refused(
        "exercise.add",
        sessionId=session,
        programExerciseId=uuid.uuid4(),
        exerciseId=uuid.uuid4(),
        name="13th",
        groupId=group,
    )
    assert isinstance(rejection, InvariantViolated)


def test_series_limit_needs_stored_state(editor: Editor) -> None:
    session = with_session(editor)
    exercise = add_exercise(editor, session, series=sets(50))
    rejection = editor.refused("series.add", programExerciseId=exercise, set={"reps": 1})
    assert isinstance(rejection, InvariantViolated)


def test_week_beyond_the_program_is_refused(editor: Editor) -> None:
    session = with_session(editor)
    exercise = add_exercise(editor, session)
    rejection = editor.refused("series.replace", programExerciseId=exercise, week=4, series=sets(1))
    assert isinstance(rejection, InvariantViolated)
    editor.run("series.replace", programExerciseId=exercise, week=3, series=sets(1))


def test_position_past_the_end_is_refused(editor: Editor) -> None:
    with_session(editor)
    rejection = editor.refused("session.add", sessionId=uuid.uuid4(), name="Far", position=2)
    assert isinstance(rejection, InvariantViolated)
    editor.run("session.add", sessionId=uuid.uuid4(), name="End", position=1)


def test_removing_the_last_member_deletes_the_group(editor: Editor) -> None:
    session = with_session(editor)
    first = add_exercise(editor, session)
    add_exercise(editor, session)
    editor.run("exercise.remove", programExerciseId=first)
    assert editor.program is not None
    assert len(editor.program.sessions[0].groups) == 1
    [deleted] = [e for e in editor.events("prescription.updated") if e["deleted"]]
    assert deleted["group"] is None and deleted["series"] == []
    shifted = [e for e in editor.events("prescription.updated") if not e["deleted"]]
    assert shifted[0]["group"]["orderIndex"] == 0  # the other exercise moved up


def test_series_edits_bump_only_that_prescription(editor: Editor) -> None:
    session = with_session(editor)
    exercise = add_exercise(editor, session, series=sets(3))
    other = add_exercise(editor, session, series=sets(1))
    editor.run("series.update", programExerciseId=exercise, index=1, set={"rpe": 8.5})
    [event] = editor.events("prescription.updated")
    assert event["programExerciseId"] == str(exercise) and event["version"] == 2
    assert event["series"][1]["rpe"] == 8.5 and event["series"][1]["reps"] == 5
    editor.run("series.move", programExerciseId=exercise, **{"from": 1, "to": 0})
    editor.run("series.remove", programExerciseId=exercise, index=2)
    [event] = editor.events("prescription.updated")
    assert [s["orderIndex"] for s in event["series"]] == [0, 1]
    assert event["series"][0]["rpe"] == 8.5 and event["version"] == 4
    assert editor.program is not None
    assert editor.program.prescriptions_of(other)[0].version == 1


def test_events_are_deterministic_per_command(editor: Editor) -> None:
    session = uuid.uuid4()
    command = editor.command("session.add", sessionId=session, name="Day")
    program = editor.program
    assert program is not None
    first = apply(program.copy(), command, Context(NOW, lambda _: False))
    second = apply(program.copy(), command, Context(NOW, lambda _: False))
    assert [*map(event_payload, first.events)] == [*map(event_payload, second.events)]


def test_batch_is_all_or_nothing_with_one_version(editor: Editor) -> None:
    session = uuid.uuid4()
    ok = [{"type": "session.add", "sessionId": str(session), "name": "Day"}]
    bad = [*ok, {"type": "session.remove", "sessionId": str(uuid.uuid4())}]
    rejection = editor.refused("batch", operations=bad)
    assert isinstance(rejection, NotFound)
    assert rejection.to_error().details[0].path.startswith("operations[1]")
    exercise = uuid.uuid4()
    editor.run(
        "batch",
        operations=[
            *ok,
            {
                "type": "exercise.add",
                "sessionId": str(session),
                "programExerciseId": str(exercise),
                "exerciseId": str(uuid.uuid4()),
                "name": "Squat",
            },
        ],
    )
    assert editor.program is not None and editor.program.version == 2
    assert editor.last is not None
    command_id = UUID(event_payload(editor.last.events[0])["causationId"])
    assert editor.program.sessions[0].groups[0].id == uuid.uuid5(command_id, "1:group")


def test_republish_changes_nothing_and_announces_everything(editor: Editor) -> None:
    session = with_session(editor)
    add_exercise(editor, session, series=sets(2))
    add_exercise(editor, session)
    before = editor.snapshot()
    editor.run("program.republish")
    assert editor.snapshot()[:2] == before[:2]
    assert len(editor.events("prescription.updated")) == 2
    assert len(editor.events("session.updated")) == 1


def test_a_session_holds_at_most_60_groups(editor: Editor) -> None:
    session = with_session(editor)
    singles = [add_exercise(editor, session) for _ in range(60)]
    assert editor.program is not None
    superset = editor.program.sessions[0].groups[-1].id
    member = add_exercise(editor, session, groupId=superset)
    refusals: list[tuple[str, dict[str, Any]]] = [
        (
            "exercise.add",
            {
                "sessionId": session,
                "programExerciseId": uuid.uuid4(),
                "exerciseId": uuid.uuid4(),
                "name": "61st",
            },
        ),
        ("exercise.move", {"programExerciseId": member, "toNewGroupAt": 0}),
        ("group.ungroup", {"groupId": superset}),
    ]
    for kind, fields in refusals:
        rejection = editor.refused(kind, **fields)
        assert isinstance(rejection, InvariantViolated), kind
        assert "at most 60" in rejection.message, rejection.message
    # A move that leaves the number of groups as it is stays possible.
    editor.run("exercise.move", programExerciseId=singles[0], toNewGroupAt=59)


def test_a_program_holds_at_most_50_sessions(editor: Editor) -> None:
    first = with_session(editor)
    for n in range(49):
        editor.run("session.add", sessionId=uuid.uuid4(), name=f"Day {n + 2}")
    for kind, fields in [
        ("session.add", {"sessionId": uuid.uuid4(), "name": "51st"}),
        ("session.copy", {"sessionId": first, "newSessionId": uuid.uuid4()}),
    ]:
        rejection = editor.refused(kind, **fields)
        assert isinstance(rejection, InvariantViolated), kind
        assert "50" in rejection.message, rejection.message
