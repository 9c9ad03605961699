"""Integration fixtures: a fresh empty database (no migrations) next to the migrated ones."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import database_url_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def empty_database(postgres_server: tuple[str, str]) -> AsyncIterator[str]:
    name = f"pb_empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server[0])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield database_url_for(postgres_server[0], name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a migrated database, with the service's jsonb codec."""
    from service.storage.database import _init_connection

    connection = await asyncpg.connect(database_url)
    await _init_connection(connection)
    yield connection
    await connection.close()
