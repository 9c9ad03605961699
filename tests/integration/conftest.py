"""Integration fixtures: a connection to a migrated database with the service's codecs (the empty
database of the migration tests is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a migrated database, with the service's jsonb codec."""
    from service.storage.database import _init_connection

    connection = await asyncpg.connect(database_url)
    await _init_connection(connection)
    yield connection
    await connection.close()
