"""The service's AsyncAPI document: FastStream's, with the commands channel carrying the real
`Command` schema (the subscriber takes raw bytes, so FastStream cannot infer it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from contracts.commands import Command
from service.config import Settings
from service.entrypoints.app import Service

DOCUMENT = Path(__file__).resolve().parents[2] / "contracts" / "schemas" / "asyncapi.json"


def render() -> str:
    settings = Settings(http_port=0, _env_file=None)
    app = Service(settings).app
    document: dict[str, Any] = app.schema.to_specification().to_jsonable()
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    command_schema = TypeAdapter(Command).json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    schemas.update(command_schema.pop("$defs", {}))
    schemas["Command"] = command_schema
    schemas.pop("EmptyPayload", None)
    message = document["components"]["messages"][f"{settings.topics.commands}:SubscribeMessage"]
    message["payload"] = {"$ref": "#/components/schemas/Command"}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write(check: bool = False) -> bool:
    """Write the document (or, with `check`, say whether the committed one is current)."""
    text = render()
    if check:
        return DOCUMENT.exists() and DOCUMENT.read_text() == text
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(text)
    return True
