"""Hostile input through the real broker and PostgreSQL, and tenant isolation.

A hypothesis-generated run of at least 10,000 malformed, oversized, deeply nested, wrong-typed,
unicode-edge and boundary-value messages: the consumer never stops, every message gets exactly
one result or one dead letter, and what was applied leaves every invariant intact."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts.commands import MAX_COMMAND_BYTES
from contracts.dlq import DeadLetterCode
from service.config import Settings
from service.process.app import Service
from tests.support.kafka import CommandClient
from tests.support.programs import build_program, new_id
from tests.support.scale import scaled
from tests.unit.contracts.test_artifacts import EXAMPLES

pytestmark = pytest.mark.reliability

EDGE_TEXT = [
    "\u0000",
    "\ud800",
    "\u202e",
    "\ufeff",
    "\uffff",
    "💪🏽",
    "é" * 201,
    "",
    " ",
    "x" * 501,
    "\n\t",
    "'; DROP TABLE programs; --",
]
EDGE_NUMBERS: list[Any] = [
    -1,
    0,
    1,
    0.5,
    7.3,
    10.5,
    51,
    52,
    53,
    200,
    201,
    1000,
    1001,
    3600,
    3601,
    86_401,
    2**31,
    2**63,
    -(2**63) - 1,
    10**400,
    1e308,
    -0.0,
    True,
    None,
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set_at(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


def _delete_at(document: Any, path: tuple[Any, ...]) -> None:
    for step in path[:-1]:
        document = document[step]
    del document[path[-1]]


@st.composite
def mutated_command(draw: st.DrawFn, programs: list[str]) -> bytes:
    kind = draw(st.sampled_from(sorted(EXAMPLES["commands"])))
    document = copy.deepcopy(EXAMPLES["commands"][kind])
    document["commandId"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
    document["programId"] = draw(st.sampled_from([*programs, document["programId"]]))
    document["tenantId"] = "tenant-a"
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p[0] not in ("commandId",)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.integers(0, 3))
        if action == 0:
            _delete_at(document, path)
        elif action == 1:
            _set_at(document, path, draw(st.sampled_from(EDGE_TEXT) | st.text(max_size=30)))
        elif action == 2:
            _set_at(document, path, draw(st.sampled_from(EDGE_NUMBERS)))
        else:
            _set_at(document, path, draw(json_values))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def hostile_messages(programs: list[str]) -> st.SearchStrategy[bytes]:
    create = EXAMPLES["commands"]["program.create"]
    return st.integers(0, 99).flatmap(
        lambda n: (
            st.binary(max_size=300)
            if n < 10
            else json_values.map(lambda v: json.dumps(v).encode())
            if n < 20
            else st.integers(50, 60_000).map(
                lambda d: (b'{"a":' * d + b"1" + b"}" * d) if d % 2 else b"[" * d + b"]" * d
            )
            if n < 24
            else st.integers(MAX_COMMAND_BYTES - 100, MAX_COMMAND_BYTES + 2000).map(
                lambda size: json.dumps({**create, "name": "x" * size}).encode()
            )
            if n < 25
            else st.sampled_from(
                [b"", b"null", b"{}", b'{"commandId": 1}', b"\xff\xfe", b'{"commandId": "x"}']
            )
            if n < 28
            else mutated_command(programs)
        )
    )


def generate(count: int, programs: list[str]) -> list[bytes]:
    found: list[bytes] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_messages(programs))
    def collect(message: bytes) -> None:
        found.append(message)

    collect()
    return found


async def test_a_fuzz_run_never_stops_the_consumer_and_answers_every_message(
    client: CommandClient, settings: Settings, pool: asyncpg.Pool, service: Service
) -> None:
    programs = [(await build_program(client))["program"] for _ in range(3)]
    messages = generate(scaled(10_000), programs)
    before_results = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = $1", settings.topics.command_results
    )
    await client.publish_all([(programs[i % 3].encode(), m) for i, m in enumerate(messages)])

    async def answered() -> int:
        count: int = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = ANY($1::text[])",
            [settings.topics.command_results, settings.topics.dead_letters],
        )
        return count - before_results

    deadline = asyncio.get_running_loop().time() + 240
    while await answered() < len(messages):
        assert asyncio.get_running_loop().time() < deadline, (await answered(), len(messages))
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)
    assert await answered() == len(messages), "exactly one result or dead letter per message"

    # The consumer still works, and the dead letters carry the contract's codes.
    assert (await client.run("program.create", new_id(), name="after"))["status"] == "applied"
    codes = {
        dict(r.headers)["x-error-code"].decode() for r in client.raw[client.topics.dead_letters]
    }
    assert codes <= {c.value for c in DeadLetterCode} | {"processing_failed"}, codes
    assert "processing_failed" not in codes, "no hostile message may reach a code path we missed"
    statuses = {r["status"] for r in client.results.values()}
    assert statuses <= {"applied", "rejected", "duplicate"}
    await assert_invariants(pool)
    print(
        f"\nfuzz: {len(messages)} hostile messages, {len(client.raw[client.topics.dead_letters])} "
        f"dead letters, codes {sorted(codes)}"
    )


NOT_CONTIGUOUS = (
    "HAVING NOT (min(%(c)s) = 0 AND max(%(c)s) = count(*) - 1 AND count(DISTINCT %(c)s) = count(*))"
)


async def assert_invariants(pool: asyncpg.Pool) -> None:
    """What every command must leave true, checked on the whole database."""
    gaps = await pool.fetch(
        "SELECT session_id FROM exercise_groups GROUP BY session_id "
        + NOT_CONTIGUOUS % {"c": "order_index"}
    )
    assert gaps == [], "group orders contiguous from 0"
    member_gaps = await pool.fetch(
        "SELECT group_id FROM program_exercises GROUP BY group_id "
        + NOT_CONTIGUOUS % {"c": "order_within_group"}
    )
    assert member_gaps == [], "member orders contiguous from 0"
    assert (
        await pool.fetchval(
            """SELECT count(*) FROM exercise_groups g
               WHERE NOT EXISTS (SELECT 1 FROM program_exercises e WHERE e.group_id = g.id)"""
        )
        == 0
    ), "no empty group"
    assert (
        await pool.fetchval(
            """SELECT count(*) FROM prescriptions p JOIN program_exercises e
                 ON e.id = p.program_exercise_id JOIN sessions s ON s.id = e.session_id
               JOIN programs g ON g.id = s.program_id WHERE p.week >= g.weeks"""
        )
        == 0
    ), "no prescription beyond the program's weeks"
    assert (
        await pool.fetchval(
            """SELECT count(*) FROM prescriptions p, jsonb_array_elements(p.series)
                 WITH ORDINALITY AS item(value, position)
               WHERE (item.value ->> 'orderIndex')::int <> item.position - 1"""
        )
        == 0
    ), "set orderIndex equals its position"
    assert (
        await pool.fetchval(
            """SELECT count(*) FROM program_exercises e WHERE NOT EXISTS
                 (SELECT 1 FROM prescriptions p WHERE p.program_exercise_id = e.id AND week = 0)"""
        )
        == 0
    ), "every exercise has a week-0 prescription"
