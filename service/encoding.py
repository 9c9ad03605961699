"""The JSON bytes the service writes: results, events and jsonb columns.

orjson writes an event about four times as fast as pydantic_core's `to_json` (1.8 against 7.2 µs
on a prescription-updated payload) and the same bytes for the JSON types the service writes:
compact, keys in insertion order, the same shortest form of every float, the same escapes
(`tests/unit/service/test_encoding.py` holds the two against each other). Anything else goes
through pydantic's conversion, as before: datetimes included, so their text does not change.
"""

from __future__ import annotations

import orjson
from pydantic_core import to_jsonable_python

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=to_jsonable_python, option=_OPTIONS)
