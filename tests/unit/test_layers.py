"""The import rules each folder's docstring states, held by reading every module's imports (those
inside functions and under TYPE_CHECKING too): a command's way through the service goes one way,
the domain does no I/O, and the local stack stays out of the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEAVES = ("service.config", "service.retry", "service.tracing", "service.encoding")
IO = ("asyncpg", "aiokafka", "faststream", "psycopg", "uvicorn")

MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "service.domain": ("contracts", "service.domain"),
    "service.storage": ("contracts", "service.domain", "service.storage", *LEAVES),
    "service.publish": ("contracts", "service.storage", "service.publish", *LEAVES),
    "service.apply": (
        "contracts",
        "service.domain",
        "service.storage",
        "service.apply",
        "service.publish.after_commit",
        *LEAVES,
    ),
    "service.consume": (
        "contracts",
        "service.apply",
        "service.publish",
        "service.consume",
        *LEAVES,
    ),
    "service.clients": ("contracts", "service.clients", "service.publish.kafka", *LEAVES),
    "service.process": ("contracts", "service", "devstack"),
    "devstack": ("devstack", "service.config"),
    **{leaf: ("contracts",) for leaf in LEAVES},
}
"""For each part, the project modules its modules may import (a name covers what is below it)."""


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
    return names


def covers(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def project(name: str) -> bool:
    return covers("service", name) or covers("contracts", name) or covers("devstack", name)


MODULES = sorted(
    path
    for folder in ("service", "devstack")
    for path in (ROOT / folder).rglob("*.py")
    if "static" not in path.parts
)


def part_of(module: str) -> str | None:
    matching = [part for part in MAY_IMPORT if covers(part, module)]
    return max(matching, key=len) if matching else None


@pytest.mark.parametrize("path", MODULES, ids=module_of)
def test_each_module_imports_only_what_its_part_may(path: Path) -> None:
    module = module_of(path)
    part = part_of(module)
    if part is None:
        assert module in ("service", "service.__main__"), f"{module} belongs to no part"
        return
    # A module's own package (`from service.apply import x`) names a sibling, not the package.
    wrong = sorted(
        name
        for name in imports_of(path)
        if project(name)
        and not any(covers(allowed, name) for allowed in MAY_IMPORT[part])
        and not any(covers(name, allowed) and name != "service" for allowed in MAY_IMPORT[part])
    )
    assert not wrong, f"{module} ({part}) imports {wrong}"


@pytest.mark.parametrize(
    "path",
    [path for path in MODULES if covers("service.domain", module_of(path))],
    ids=module_of,
)
def test_the_domain_does_no_io(path: Path) -> None:
    io = sorted(name for name in imports_of(path) if any(covers(lib, name) for lib in IO))
    assert not io, f"{module_of(path)} imports {io}"


def test_only_the_dev_commands_import_the_local_stack() -> None:
    importers = sorted(
        module_of(path)
        for path in MODULES
        if covers("service", module_of(path))
        and any(covers("devstack", name) for name in imports_of(path))
    )
    assert importers == ["service.process.dev"]


def test_a_rule_broken_is_seen() -> None:
    """The check itself: an import against the flow is reported."""
    assert not any(
        covers(allowed, "service.consume.pipeline") for allowed in MAY_IMPORT["service.apply"]
    )
    assert part_of("service.apply.unit_of_work") == "service.apply"
    assert part_of("service.publish.after_commit") == "service.publish"
