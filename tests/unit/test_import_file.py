"""The bulk import's lines, without a broker: bounded reading, what is unreadable, the commands
built, the tally's summary."""

from __future__ import annotations

import io
import json
import uuid

from service.entrypoints.import_file import (
    COMMAND_ID_NAMESPACE,
    ImportCommand,
    Line,
    Tally,
    Unreadable,
    count_lines,
    lines_of,
    read_line,
)

PROGRAM = str(uuid.uuid4())


def test_a_line_over_the_limit_is_skipped_unread_and_numbering_goes_on() -> None:
    text = b'{"a": 1}\n' + b"x" * 1000 + b"\n\n  \n" + b'{"b": 2}'
    lines = list(lines_of(io.BytesIO(text), limit=100))
    assert [(line.number, line.text) for line in lines] == [
        (1, b'{"a": 1}\n'),
        (2, None),
        (5, b'{"b": 2}'),
    ]
    assert count_lines(io.BytesIO(text)) == 3


def test_a_line_of_exactly_the_limit_is_read() -> None:
    text = b"y" * 99 + b"\n"
    assert [line.text for line in lines_of(io.BytesIO(text), limit=100)] == [text]


def test_the_command_of_a_line() -> None:
    line = json.dumps({"programId": PROGRAM, "program": {"format": "legacy", "name": "A"}})
    command = read_line(Line(7, line.encode()), default_tenant="t1")
    assert isinstance(command, ImportCommand)
    assert command.command_id == uuid.uuid5(COMMAND_ID_NAMESPACE, f"t1:{PROGRAM}")
    assert json.loads(command.value) == {
        "commandId": str(command.command_id),
        "type": "program.import",
        "tenantId": "t1",
        "programId": PROGRAM,
        "program": {"format": "legacy", "name": "A"},
    }
    own = json.dumps({"tenantId": "t2", "programId": PROGRAM, "program": {}})
    assert read_line(Line(1, own.encode()), "t1").tenant_id == "t2"  # type: ignore[union-attr]


def test_unreadable_lines_say_why() -> None:
    cases = {
        b"[1, 2]": "not a JSON object",
        b"{nope": "not JSON",
        b'{"programId": 5, "program": {}}': "no programId",
        b'{"programId": "x", "program": {}}': "not a UUID",
        json.dumps({"programId": PROGRAM, "program": {}}).encode(): "no tenantId",
        json.dumps({"programId": PROGRAM, "tenantId": "", "program": {}}).encode(): "tenantId",
        json.dumps({"programId": PROGRAM, "tenantId": "t", "program": []}).encode(): "program",
        b"\xff\xfe{}": "not JSON",
    }
    for text, reason in cases.items():
        item = read_line(Line(3, text), default_tenant=None)
        assert isinstance(item, Unreadable), text
        assert reason in item.message, (text, item.message)
        assert item.line == 3
    assert "256 KiB" in read_line(Line(9, None), "t").message  # type: ignore[union-attr]


def test_a_command_over_the_limit_is_unreadable() -> None:
    """A line just under 256 KiB whose command (commandId, type, tenantId added) is over it."""
    head = json.dumps({"programId": PROGRAM, "program": {"n": ""}})[:-3]
    line = (head + "x" * (256 * 1024 - len(head) - 3 - 10) + '"}}').encode()
    assert len(line) < 256 * 1024
    item = read_line(Line(1, line), "tenant")
    assert isinstance(item, Unreadable)
    assert "over the 256 KiB limit" in item.message


def test_the_summary() -> None:
    tally = Tally(imported=3, already_imported=2, unreadable=1)
    tally.rejected["validation_failed"] += 2
    tally.rejected["conflict"] += 1
    assert tally.summary() == (
        "imported 3, already imported 2, rejected 3 (conflict 1, validation_failed 2), unreadable 1"
    )
    assert tally.done == 9
    assert tally.failed == 4
