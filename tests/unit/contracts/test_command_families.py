"""The command families and the unions assembled from them: `Command`, written out once for mypy
and the published order, holds exactly the command types the families declare, and the batch
operations are the bodies of those declared `in_batch`."""

from __future__ import annotations

import pkgutil
from importlib import import_module
from types import ModuleType
from typing import Any, get_args

import contracts.commands as package
from contracts.commands import BATCH_TYPES, COMMAND_TYPES, BatchOperation, Command, CommandEnvelope
from service.domain.commands import registry

COMMANDS = get_args(get_args(Command)[0])


def families() -> list[ModuleType]:
    return [
        import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name != "common"
    ]


def declared(family: ModuleType) -> list[type[CommandEnvelope]]:
    return [
        value
        for value in vars(family).values()
        if isinstance(value, type)
        and issubclass(value, CommandEnvelope)
        and value.__module__ == family.__name__
    ]


def type_of(model: Any) -> str:
    kind: str = get_args(model.model_fields["type"].annotation)[0]
    return kind


def test_command_holds_every_family_type_once_and_nothing_else() -> None:
    every = [envelope for family in families() for envelope in declared(family)]
    assert len(every) == len(set(every)) == len(COMMANDS) == len(set(COMMANDS))
    assert set(COMMANDS) == set(every)
    assert {type_of(model) for model in every} == COMMAND_TYPES
    assert len(COMMAND_TYPES) == len(COMMANDS)


def test_each_command_type_is_its_envelope_around_its_body() -> None:
    for envelope in COMMANDS:
        assert envelope.__bases__ == (CommandEnvelope, envelope.body)
        assert envelope.body.__name__ == f"{envelope.__name__}Body"
        assert envelope.body.__module__ == envelope.__module__
        assert isinstance(envelope.in_batch, bool), envelope


def test_batch_operations_are_the_bodies_declared_in_batch_in_command_order() -> None:
    bodies = get_args(get_args(BatchOperation)[0])
    assert list(bodies) == [envelope.body for envelope in COMMANDS if envelope.in_batch]
    assert {type_of(body) for body in bodies} == BATCH_TYPES


def test_each_family_is_the_domain_family_that_handles_it() -> None:
    for handler in registry.registered():
        contract_family = handler.body.__module__.rsplit(".", 1)[-1]
        domain_family = handler.apply.__module__.rsplit(".", 1)[-1]
        assert contract_family == domain_family, handler.body.__name__
