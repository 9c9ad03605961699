"""Which command types a `batch` may hold, as the docs say it: held against each type's
`in_batch` declaration and against what a batch accepts.

CONTRACT.md names the types it rules on: "`batch` may hold ..., not ...", "All four new commands
may stand in a `batch`" (the types of the table above it), "`X` cannot stand in a `batch`". For
the types it leaves open (a v1 batch holds "command bodies"), the service's decision is in the
architecture's contract notes: "every command type except ...". The contract's own word wins.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.commands import BATCH_TYPES, COMMAND_TYPES, Command

DOCS = Path(__file__).parents[3] / "docs"
CONTRACT = (DOCS / "CONTRACT.md").read_text()
NOTES = (DOCS / "architecture.md").read_text()

TYPE = r"`([a-z]+\.[a-zA-Z]+|batch)`"
TABLE_ROW = re.compile(rf"^\| {TYPE} \|", re.MULTILINE)
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}

# Every sentence of the contract on what a batch holds, and the three forms this test reads.
ANY_RULING = re.compile(r"\bstands? in a\s+`batch`|`batch`\s+(?:may|can|cannot)\s+hold")
END = r"\.(?=\s)"  # a sentence's end; type names hold dots too
MAY_HOLD = re.compile(rf"`batch` may hold (?P<held>.+?), not\s+(?P<refused>.+?){END}", re.DOTALL)
NEW_ONES = re.compile(r"All (?P<count>\w+) new commands may stand in a\s+`batch`\.")
CANNOT = re.compile(rf"{TYPE} cannot\s+stand in a\s+`batch`")
NOTE = re.compile(
    rf"A `batch` holds [^:]*: every command type except\s+(?P<refused>.+?) itself{END}", re.DOTALL
)


def names(text: str) -> set[str]:
    return set(re.findall(TYPE, text))


def table_above(position: int) -> set[str]:
    """The command types of the last table before `position`."""
    rows: list[str] = []
    for line in reversed(CONTRACT[:position].splitlines()):
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return names("\n".join(row.split("|")[1] for row in rows))


def contract_rulings() -> dict[str, bool]:
    """Each type the contract rules on: True if it may stand in a batch."""
    ruled: list[tuple[str, bool]] = []
    found = 0
    for match in MAY_HOLD.finditer(CONTRACT):
        ruled += [(kind, True) for kind in names(match["held"])]
        ruled += [(kind, False) for kind in names(match["refused"])]
        found += 1
    for match in NEW_ONES.finditer(CONTRACT):
        new = table_above(match.start())
        assert len(new) == NUMBERS[match["count"]], (match[0], new)
        ruled += [(kind, True) for kind in new]
        found += 1
    for match in CANNOT.finditer(CONTRACT):
        ruled.append((match[1], False))
        found += 1
    assert found == len(ANY_RULING.findall(CONTRACT)), "a sentence on batches this test cannot read"
    rulings = dict(ruled)
    assert len(set(ruled)) == len(rulings), f"the contract contradicts itself: {sorted(ruled)}"
    return rulings


def documented_batch_types() -> set[str]:
    universe = set(TABLE_ROW.findall(CONTRACT))
    note = NOTE.search(NOTES)
    assert note is not None, "architecture.md no longer says which types a batch holds"
    refused_by_the_service = names(note["refused"])
    rulings = contract_rulings()
    assert set(rulings) <= universe
    return {kind for kind in universe if rulings.get(kind, kind not in refused_by_the_service)}


def test_the_docs_are_read_as_intended() -> None:
    rulings = contract_rulings()
    assert {kind for kind, held in rulings.items() if not held} == {
        "program.copy",
        "program.delete",
        "program.sync",
        "program.revert",
    }
    assert {"week.copy", "maxes.set", "session.reschedule"} <= set(rulings)


def test_batch_membership_is_what_the_docs_say() -> None:
    assert set(TABLE_ROW.findall(CONTRACT)) == COMMAND_TYPES
    documented = documented_batch_types()
    assert sorted(BATCH_TYPES - documented) == [], "declared in_batch, the docs say not"
    assert sorted(documented - BATCH_TYPES) == [], "the docs say it may stand in a batch"


COMMANDS: TypeAdapter[object] = TypeAdapter(Command)


@pytest.mark.parametrize("kind", sorted(COMMAND_TYPES))
def test_a_batch_accepts_exactly_the_documented_types(kind: str) -> None:
    batch = {
        "commandId": str(uuid4()),
        "tenantId": "t",
        "programId": str(uuid4()),
        "type": "batch",
        "operations": [{"type": kind}],
    }
    try:
        COMMANDS.validate_json(json.dumps(batch))
        accepted = True
    except ValidationError as error:
        accepted = not any(
            e["type"] == "union_tag_invalid" and e["loc"] == ("batch", "operations", 0)
            for e in error.errors()
        )
    assert accepted == (kind in documented_batch_types())
