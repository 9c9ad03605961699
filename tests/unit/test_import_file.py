"""The bulk import's lines, without a broker: bounded reading, what is unreadable, the commands
built, a line's content id, what each result makes of its line, the tally's summary."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest

from service.clients.import_file import (
    COMMAND_ID_NAMESPACE,
    ImportCommand,
    Line,
    Outcome,
    Rejected,
    Tally,
    Unreadable,
    answers_an_earlier_rejection,
    content_id_of,
    count_lines,
    lines_of,
    outcome_of,
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
    assert not command.under_content_id
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


# --- the content id: a line sent again after its first id answered a rejection

LINE = (
    b'{"tenantId": "t1", "programId": "00000000-0000-4000-8000-000000000001", '
    b'"program": {"format": "legacy", "name": "A"}}'
)
LINE_SHA256 = "f2602da9b922c5a4fdfc46d5e0caa1b99499de906c9ca1667930a04ff1eaa41c"  # `sha256sum`
LINE_CONTENT_ID = uuid.UUID("1bd2295d-4506-5ce6-b0ed-ac587eb19068")
"""uuid5 by hand: the first 16 bytes of SHA-1(namespace bytes + "t1:<programId>:<LINE_SHA256>"),
1bd2295d4506fce6f0edac587eb19068, with the version (5) and the variant bits set."""


def test_the_content_id_of_a_line_is_the_contracts() -> None:
    program = "00000000-0000-4000-8000-000000000001"
    contracts = uuid.uuid5(
        uuid.UUID("8f3c2b1a-6d4e-4f5a-9b7c-1e2d3c4b5a69"), f"t1:{program}:{LINE_SHA256}"
    )
    assert content_id_of("t1", program, LINE) == contracts == LINE_CONTENT_ID


def test_the_content_id_leaves_out_the_line_ending_only() -> None:
    program = "00000000-0000-4000-8000-000000000001"
    for text in (LINE + b"\n", LINE + b"\r\n"):
        assert content_id_of("t1", program, text) == LINE_CONTENT_ID, text
    # Anything else is the line's content: a space before the ending, a lone carriage return,
    # a second ending, another tenant.
    for text in (LINE + b" \n", LINE + b"\r", LINE + b"\n\n", LINE.replace(b'"A"', b'"B"')):
        assert content_id_of("t1", program, text) != LINE_CONTENT_ID, text
    assert content_id_of("t2", program, LINE) != LINE_CONTENT_ID


def test_a_lines_command_carries_its_content_id_as_read_from_the_file() -> None:
    """Read from a CRLF file, the line has the content id of its bytes without `\\r\\n`."""
    lines = list(lines_of(io.BytesIO(b"\r\n" + LINE + b"\r\n")))
    assert [line.number for line in lines] == [2]
    command = read_line(lines[0], default_tenant=None)
    assert isinstance(command, ImportCommand)
    assert command.content_id == LINE_CONTENT_ID
    assert command.command_id == uuid.uuid5(
        COMMAND_ID_NAMESPACE, "t1:00000000-0000-4000-8000-000000000001"
    )


def test_the_second_attempt_is_the_same_command_under_the_content_id() -> None:
    command = read_line(Line(4, LINE + b"\n"), default_tenant=None)
    assert isinstance(command, ImportCommand)

    again = command.again_under_content_id()

    assert again.under_content_id
    assert again.command_id == again.content_id == LINE_CONTENT_ID
    assert (again.line, again.tenant_id, again.program_id) == (4, "t1", command.program_id)
    assert json.loads(again.value) == {
        **json.loads(command.value),
        "commandId": str(LINE_CONTENT_ID),
    }
    assert len(again.value) == len(command.value)  # so it is under the limit as the first was


# --- what a result makes of its line

REJECTION = {"code": "validation_failed", "message": "week 3 of 1", "details": [{"path": "p"}]}


def result(status: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
    version = 1 if status == "applied" or (status == "duplicate" and not error) else None
    return {
        "commandId": str(uuid.uuid4()),
        "status": status,
        "programVersion": version,
        "error": error,
    }


def test_only_a_duplicate_of_a_rejection_answers_an_earlier_rejection() -> None:
    assert answers_an_earlier_rejection(result("duplicate", REJECTION))
    assert not answers_an_earlier_rejection(result("duplicate"))
    assert not answers_an_earlier_rejection(result("rejected", REJECTION))
    assert not answers_an_earlier_rejection(result("applied"))


@pytest.mark.parametrize(
    ("answer", "sent_again", "outcome"),
    [
        (result("applied"), False, Outcome.IMPORTED),
        (result("duplicate"), False, Outcome.ALREADY_IMPORTED),
        (result("duplicate"), True, Outcome.IMPORTED),  # this run's first send applied it
        (
            result("rejected", REJECTION),
            False,
            Rejected("validation_failed", "week 3 of 1", [{"path": "p"}]),
        ),
        # Under the content id: the first rejection of these same bytes, again.
        (
            result("duplicate", REJECTION),
            False,
            Rejected("validation_failed", "week 3 of 1", [{"path": "p"}]),
        ),
        (
            result("rejected", {"code": "conflict"}),
            True,
            Rejected("conflict", "status rejected", []),
        ),
        (result("failed"), False, Rejected("failed", "status failed", [])),
    ],
)
def test_what_a_result_ends_its_line_as(
    answer: dict[str, Any], sent_again: bool, outcome: Outcome | Rejected
) -> None:
    assert outcome_of(answer, sent_again=sent_again) == outcome


def test_the_tally_counts_each_outcome() -> None:
    tally = Tally()
    for outcome in (
        Outcome.IMPORTED,
        Outcome.IMPORTED,
        Outcome.ALREADY_IMPORTED,
        Rejected("validation_failed", "m", []),
    ):
        tally.add(outcome)
    assert (tally.imported, tally.already_imported, dict(tally.rejected)) == (
        2,
        1,
        {"validation_failed": 1},
    )
    assert (tally.done, tally.failed) == (4, 1)
