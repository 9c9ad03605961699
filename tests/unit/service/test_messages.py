"""The wire format has one home: every kind of message `service.apply.wire` writes is exactly what
the `contracts` models read and write back (so it matches the published schemas too)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.dlq import HEADER_CORRELATION_ID, HEADER_ERROR_CODE, HEADER_REPLY_TO
from contracts.events import PrescriptionUpdated, SessionUpdated
from contracts.exercises import Alternative, DoubleProgression, LoadStep, StepUnit
from contracts.groups import GroupFormat
from contracts.results import CommandError, CommandResult, ErrorCode, ErrorDetail
from contracts.topics import Topics
from service.apply.wire import Messages, Record
from service.domain.events import Cause, PrescriptionEvent, SessionEvent
from service.domain.loads import ResolvedLoad
from service.domain.model import (
    ExerciseGroup,
    GroupSettings,
    Prescription,
    Program,
    ProgramExercise,
    Session,
)
from service.storage.inbox import InboxEntry

TOPICS = Topics("unit")
NOW = datetime(2026, 11, 25, 9, 30, 1, 250000, tzinfo=UTC)


def round_trips(model: Any, value: bytes) -> dict[str, Any]:
    """The message parses with the model and serialises back to the same JSON."""
    document = json.loads(value)
    parsed = model.model_validate_json(value)
    assert json.loads(parsed.to_json()) == document
    return document


def record(**headers: bytes) -> Record:
    return Record(TOPICS.commands, 2, 41, b"key", b'{"x": 1}', tuple(headers.items()))


def test_results_of_each_status_match_the_model() -> None:
    messages = Messages(TOPICS)
    error = CommandError(
        code=ErrorCode.NOT_FOUND,
        message="session s not found",
        details=[ErrorDetail(path="sessionId", reason="not found")],
    )
    applied = InboxEntry(uuid.uuid4(), "session.add", uuid.uuid4(), "applied", 3, None)
    rejected = InboxEntry(uuid.uuid4(), "x.y", None, "rejected", None, error.to_wire())
    for entry, duplicate in ((applied, False), (rejected, False), (applied, True)):
        [message] = messages.results(record(), entry, NOW, (), duplicate=duplicate)
        assert message.topic == TOPICS.command_results
        assert message.key == str(entry.command_id).encode()
        document = round_trips(CommandResult, message.value)
        assert document["status"] == ("duplicate" if duplicate else entry.status)
        assert document["processedAt"] == "2026-11-25T09:30:01.250000Z"


def test_reply_to_copies_carry_the_correlation_id() -> None:
    messages = Messages(TOPICS)
    entry = InboxEntry(uuid.uuid4(), "program.create", uuid.uuid4(), "applied", 1, None)
    asked = record(**{HEADER_REPLY_TO: b"team.replies", HEADER_CORRELATION_ID: b"c-1"})
    main, copy = messages.results(asked, entry, NOW, (("traceparent", b"00-x"),), duplicate=False)
    assert copy.topic == "team.replies"
    assert copy.value == main.value
    assert (
        copy.headers == main.headers == ((HEADER_CORRELATION_ID, b"c-1"), ("traceparent", b"00-x"))
    )
    for refused in (TOPICS.commands, "bad topic!", ""):
        ours = record(**{HEADER_REPLY_TO: refused.encode()})
        assert len(messages.results(ours, entry, NOW, (), duplicate=False)) == 1


def test_events_of_every_shape_match_the_models() -> None:
    messages = Messages(TOPICS)
    squat = ProgramExercise(uuid.uuid4(), uuid.uuid4(), "Back squat")
    row = ProgramExercise(
        uuid.uuid4(),
        uuid.uuid4(),
        "Row",
        "Squeeze at the top",
        (Alternative(exercise_id=uuid.uuid4(), name="Cable row"),),
        DoubleProgression(
            kind="double",
            reps_min=8,
            reps_max=12,
            load_step=LoadStep(value=2.5, unit=StepUnit.KG),
        ),
    )
    group = ExerciseGroup(
        uuid.uuid4(),
        [squat, row],
        GroupSettings(rounds=3, notes="superset", format=GroupFormat.EMOM, interval_seconds=60),
    )
    session = Session(uuid.uuid4(), "Day 1", [group])
    program = Program(uuid.uuid4(), "coach", "Block", 4, 7, [session])
    placement = program.placements(session)[row.id]
    prescription = Prescription(
        uuid.uuid4(),
        row.id,
        2,
        5,
        (
            {"orderIndex": 0, "setType": "working", "reps": 8},
            {"orderIndex": 1, "setType": "working", "load": {"value": 75, "unit": "percent1rm"}},
        ),
    )
    resolved = (None, ResolvedLoad(Decimal("92.50"), "kg"))
    cause = Cause(uuid.uuid4(), "coach", program.id, 7, NOW)
    events = [
        PrescriptionEvent(cause, prescription, row, session.id, placement, resolved),
        PrescriptionEvent(cause, replace(prescription, series=()), row, session.id, None, ()),
        SessionEvent(cause, session, 0, deleted=False),
        SessionEvent(cause, session, 3, deleted=True),
    ]
    documents = []
    for event in events:
        message, *tombstone = messages.events([event], ())
        gone = event.placement is None if isinstance(event, PrescriptionEvent) else event.deleted
        if gone:  # a deleted entity's event is followed by its tombstone: same topic and key
            assert [(t.topic, t.key, t.value) for t in tombstone] == [
                (message.topic, message.key, None)
            ]
        else:
            assert tombstone == []
        assert message.key == str(event.key).encode()
        model = PrescriptionUpdated if isinstance(event, PrescriptionEvent) else SessionUpdated
        topic = (
            TOPICS.prescription_updated
            if isinstance(event, PrescriptionEvent)
            else TOPICS.session_updated
        )
        assert message.topic == topic
        documents.append(round_trips(model, message.value))
    live, gone, structure, deleted = documents
    assert live["group"]["kind"] == "superset" and live["group"]["orderWithinGroup"] == 1
    assert [s["resolvedLoad"] for s in live["series"]] == [None, {"value": 92.5, "unit": "kg"}]
    published_row = structure["groups"][0]["exercises"][1]
    assert published_row["notes"] == "Squeeze at the top"
    assert published_row["alternatives"][0]["name"] == "Cable row"
    assert published_row["progression"]["kind"] == "double"
    assert structure["groups"][0]["exercises"][0]["alternatives"] == []
    assert gone["deleted"] and gone["group"] is None
    assert structure["groups"][0]["exercises"][1]["name"] == "Row"
    assert deleted["deleted"] and deleted["groups"] == []


def test_a_dead_letter_keeps_key_bytes_and_headers_and_says_why() -> None:
    letter = Messages(TOPICS).dead_letter(record(**{"h": b"\xff"}), "not_json", "unreadable")
    assert (letter.topic, letter.key, letter.value) == (TOPICS.dead_letters, b"key", b'{"x": 1}')
    headers = dict(letter.headers)
    assert headers["h"] == b"\xff"
    assert headers[HEADER_ERROR_CODE] == b"not_json"
    assert headers["x-original-partition"] == b"2" and headers["x-original-offset"] == b"41"
