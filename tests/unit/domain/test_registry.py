"""One place per command: every command type the published contract names has exactly one
handler in the domain's registry, and the registry handles nothing the contract does not name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from contracts.commands import COMMAND_TYPES, Command
from service.domain.commands import registry

CONTRACT = Path(__file__).parents[3] / "docs" / "CONTRACT.md"


def contract_command_types() -> set[str]:
    """The first cell of every row of the contract's command tables."""
    rows = re.findall(r"^\| `([a-z]+\.[a-zA-Z]+|batch)` \|", CONTRACT.read_text(), re.MULTILINE)
    return set(rows)


def test_the_contract_and_the_models_name_the_same_command_types() -> None:
    assert contract_command_types() == COMMAND_TYPES


def test_every_command_type_has_exactly_one_handler() -> None:
    handlers = list(registry.registered())
    for model in get_args(get_args(Command)[0]):
        mine = [handler for handler in handlers if issubclass(model, handler.body)]
        assert len(mine) == 1, (model.__name__, [h.body.__name__ for h in mine])
        assert registry.handler_of(model.model_construct()) is mine[0]


def test_no_handler_is_left_without_a_command() -> None:
    models = get_args(get_args(Command)[0])
    for handler in registry.registered():
        assert any(issubclass(model, handler.body) for model in models), handler.body
