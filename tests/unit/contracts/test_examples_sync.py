"""The `program.sync` and `program.revert` examples of `contracts/examples.json` are what
the domain computes: a template of two sessions copied for an athlete, the athlete's second
session customised, the template's first session changed, a dry run that previews it, the sync
from week 1, and an undo of it. `python -m tests.unit.contracts.test_examples_sync` rewrites
them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from contracts import generate
from contracts.commands import Command
from contracts.results import CommandResult
from service.apply.wire import event_payload, result_payload
from service.storage.inbox import InboxEntry
from tests.support.domain import Programs

EXAMPLES_FILE = Path(generate.__file__).parent / "examples.json"
COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)

TEMPLATE = "5a170000-0000-4000-8000-000000000007"
COPY = "5a170000-0000-4000-8000-000000000008"
LOWER, UPPER = "5a170000-0000-4000-8000-000000000071", "5a170000-0000-4000-8000-000000000072"
SQUAT, BENCH = "5a170000-0000-4000-8000-000000000073", "5a170000-0000-4000-8000-000000000074"
CATALOG_SQUAT = "5a170000-0000-4000-8000-000000000064"
CATALOG_BENCH = "5a170000-0000-4000-8000-000000000065"


def _command(number: int, kind: str, program: str = TEMPLATE, **fields: Any) -> dict[str, Any]:
    return {
        "commandId": f"5a170000-0000-4000-8000-0000000007{number:02x}",
        "type": kind,
        "tenantId": "coach-acme",
        "issuedAt": "2026-11-24T09:00:00Z",
        "programId": program,
        **fields,
    }


def _sets(reps: int, load: float) -> list[dict[str, Any]]:
    return [{"reps": reps, "load": {"value": load, "unit": "kg"}, "restSeconds": 180}] * 3


# (name in examples.json or None for a step of the story without an example, the command)
STORY: list[tuple[str | None, dict[str, Any]]] = [
    (None, _command(1, "program.create", name="Strength template", weeks=3)),
    (None, _command(2, "session.add", sessionId=LOWER, name="Lower")),
    (None, _command(3, "session.add", sessionId=UPPER, name="Upper")),
    (
        None,
        _command(
            4,
            "exercise.add",
            sessionId=LOWER,
            programExerciseId=SQUAT,
            exerciseId=CATALOG_SQUAT,
            name="Back squat",
            series=_sets(5, 100),
        ),
    ),
    (
        None,
        _command(
            5,
            "exercise.add",
            sessionId=UPPER,
            programExerciseId=BENCH,
            exerciseId=CATALOG_BENCH,
            name="Bench press",
            series=_sets(5, 70),
        ),
    ),
    (None, _command(6, "week.copy", fromWeek=0, toWeeks=[1, 2])),
    (None, _command(7, "program.copy", newProgramId=COPY, name="Strength (Sam)")),
    # Sam's coach changes her upper day: customised, kept by every sync.
    (
        None,
        _command(8, "session.update", COPY, sessionId="@upper", name="Upper (shoulder-friendly)"),
    ),
    # The template's squat goes to sets of 3 at 110 kg from week 1 on.
    (None, _command(9, "series.replace", programExerciseId=SQUAT, week=1, series=_sets(3, 110))),
    (None, _command(10, "series.replace", programExerciseId=SQUAT, week=2, series=_sets(3, 115))),
    ("program.sync (preview)", _command(11, "program.sync", COPY, dryRun=True)),
    ("program.sync", _command(12, "program.sync", COPY, fromWeek=1)),
    ("program.revert", _command(13, "program.revert", COPY, toVersion=2)),
]
RESULTS = {11: "applied (program.sync, dry run)", 12: "applied (program.sync)"}


def told() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The story's named commands, the results of the syncs, and the session.updated of the
    synced session, as the domain computes them."""
    programs = Programs(tenant_id="coach-acme")
    commands: dict[str, Any] = {}
    results: dict[str, Any] = {}
    events: dict[str, Any] = {}
    for number, (name, told_document) in enumerate(STORY, start=1):
        document = dict(told_document)
        if document.get("sessionId") == "@upper":
            document["sessionId"] = str(programs.programs[UUID(COPY)].sessions[1].id)
        applied = programs.apply(COMMANDS.validate_json(json.dumps(document)))
        if name is not None:
            commands[name] = document
        if number in RESULTS:
            entry = InboxEntry(
                UUID(document["commandId"]),
                document["type"],
                UUID(COPY),
                "applied",
                applied.version,
                None,
                "coach-acme",
                applied.report,
            )
            results[RESULTS[number]] = json.loads(
                json.dumps(result_payload(entry, programs.now, duplicate=False))
            )
        for event in applied.events:
            payload = event_payload(event)
            if number == 8 and payload["type"] == "session.updated":
                events["session.updated (customised in a copy)"] = payload
            if number == 12 and payload["type"] == "prescription.updated":
                events.setdefault("prescription.updated (synced from the template)", payload)
    return commands, results, events


def test_the_examples_are_what_the_domain_computes() -> None:
    examples = json.loads(EXAMPLES_FILE.read_text())
    commands, results, events = told()
    for name, command in commands.items():
        assert examples["commands"].get(name) == command, name
    for name, result in results.items():
        assert examples["results"].get(name) == result, name
        CommandResult.model_validate(result, strict=False)
    for name, event in events.items():
        assert examples["events"].get(name) == event, name


def test_the_preview_tells_each_session_and_the_sync_keeps_the_customised_one() -> None:
    examples = json.loads(EXAMPLES_FILE.read_text())
    preview = examples["results"]["applied (program.sync, dry run)"]
    synced = examples["results"]["applied (program.sync)"]
    assert preview["sync"]["dryRun"] is True
    assert [s["state"] for s in preview["sync"]["sessions"]] == ["synced", "custom"]
    assert [s["sourceSessionId"] for s in preview["sync"]["sessions"]] == [LOWER, UPPER]
    assert preview["programVersion"] == 2  # the copy's version: a preview changes nothing
    assert synced["programVersion"] == 3
    assert synced["sync"]["sessions"] == preview["sync"]["sessions"]
    customised = examples["events"]["session.updated (customised in a copy)"]
    assert customised["sourceSessionId"] == UPPER
    assert customised["customised"] is True
    synced_squat = examples["events"]["prescription.updated (synced from the template)"]
    assert (synced_squat["week"], synced_squat["programVersion"]) == (1, 3)
    assert [item["reps"] for item in synced_squat["series"]] == [3, 3, 3]


def rewrite() -> None:
    """Write the story's commands, results and events into examples.json."""
    examples = json.loads(EXAMPLES_FILE.read_text())
    commands, results, events = told()
    examples["commands"].update(commands)
    examples["results"].update(results)
    examples["events"].update(events)
    for result in examples["results"].values():
        result.setdefault("sync", None)
    EXAMPLES_FILE.write_text(json.dumps(examples, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    rewrite()
    sys.exit(0)
