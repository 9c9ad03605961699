"""The committed AsyncAPI document is what the code generates, with the real message models."""

from __future__ import annotations

import json

from service.entrypoints.asyncapi import DOCUMENT, render


def test_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "stale: run `program-builder asyncapi`"


def test_every_channel_carries_a_contract_model() -> None:
    document = json.loads(render())
    payloads = {
        name: message["payload"]["$ref"].rsplit("/", 1)[-1]
        for name, message in document["components"]["messages"].items()
    }
    assert payloads == {
        "program-builder.commands:SubscribeMessage": "Command",
        "program-builder.command-results:Message": "CommandResult",
        "program-builder.prescription-updated:Message": "PrescriptionUpdated",
        "program-builder.session-updated:Message": "SessionUpdated",
        "program-builder.program-updated:Message": "ProgramUpdated",
    }
    command = document["components"]["schemas"]["Command"]
    assert len(command["oneOf"]) == 26
