"""`service.encoding.dumps` writes the bytes pydantic_core's `to_json` wrote before it: consumers
that compare or hash event payloads see no change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from service.encoding import dumps

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_json_values_are_written_as_pydantic_wrote_them(value: object) -> None:
    assert dumps(value) == to_json(value)


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        72.5,
        1e16,
        1e-7,
        1e21,
        1e22,
        -0.0,
        5e-324,
        1.7976931348623157e308,
        'é\u2028\x00\x7f"\\/<>&',
        datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 3, 7, 0, tzinfo=timezone(timedelta(hours=-5))),
        Decimal("72.50"),
        UUID("8f0d1f8e-2d4b-4c6e-9a3b-5b2f6f1d9c01"),
        {"series": [{"load": {"value": 102.5, "unit": "kg"}, "at": datetime(2026, 1, 1)}]},
    ],
)
def test_edge_values_are_written_as_pydantic_wrote_them(value: object) -> None:
    assert dumps(value) == to_json(value)
