"""Connection pool and the classification of database errors (transient, or the data's fault)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeAlias

import asyncpg
import asyncpg.pool
from pydantic_core import from_json

from contracts.results import CommandError, ErrorCode
from service.config import ConfigurationError, without_password
from service.encoding import dumps

# A plain connection or one borrowed from the pool: the storage functions take either.
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

Write: TypeAlias = Callable[[Connection], Awaitable[object]]
"""One statement with its arguments, ready to run on a transaction's connection: the rows of a
write are built first, running it is only I/O."""


async def run(connection: Connection, writes: Iterable[Write]) -> None:
    """Run the statements in order."""
    for write in writes:
        await write(connection)


def execute_many(statement: str, rows: Sequence[Sequence[object]]) -> Write:
    """`executemany`: the rows pipelined in one round trip."""
    return lambda connection: connection.executemany(statement, rows)


def execute_one(statement: str, *arguments: object) -> Write:
    return lambda connection: connection.execute(statement, *arguments)


TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "53300",  # too_many_connections
        "53400",  # configuration_limit_exceeded
        "08000",
        "08001",
        "08003",
        "08004",
        "08006",
        "08007",  # connection exceptions
        "25P03",  # idle_in_transaction_session_timeout
        "57014",  # query_canceled (statement timeout)
    }
)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same work later can succeed: not the command's fault."""
    if isinstance(error, asyncpg.PostgresError):
        return getattr(error, "sqlstate", None) in TRANSIENT_SQLSTATES
    if isinstance(error, asyncpg.ClientConfigurationError):  # an InterfaceError, but ours
        return False
    return isinstance(
        error,
        OSError
        | asyncio.TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.ConnectionDoesNotExistError,
    )


REFUSED_LOGIN_SQLSTATES = {
    "28P01": "PostgreSQL refused the password",  # invalid_password
    "28000": "PostgreSQL refused the login",  # invalid_authorization_specification
    "3D000": "no such database",  # invalid_catalog_name
    "42501": "the role lacks a privilege",  # insufficient_privilege
}


def connection_refusal(error: BaseException, url: str) -> ConfigurationError | None:
    """What to change when PostgreSQL refused to let the service in (login, database,
    privileges, a malformed URL): waiting will not help. None for any other error."""
    if isinstance(error, asyncpg.PostgresError):
        problem = REFUSED_LOGIN_SQLSTATES.get(getattr(error, "sqlstate", None) or "")
        if problem is None:
            return None
        detail = str(error)
    elif isinstance(error, ValueError):  # asyncpg.ClientConfigurationError is one
        problem, detail = "cannot use this URL", str(error)
    else:
        return None
    return ConfigurationError("DATABASE_URL", f"{problem} ({detail}) at {without_password(url)}")


def refusal(error: BaseException) -> CommandError | None:
    """The rejection a command earns when the database refused its change, or None when the
    error is not about the command's data (then it is transient or a bug).

    Only reached when a command passed the domain's checks and still broke a constraint: an id
    it creates that another command of the same batch took first, in another program."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return CommandError(
            code=ErrorCode.CONFLICT, message="an id this command creates is already in use"
        )
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return CommandError(
            code=ErrorCode.INVARIANT_VIOLATED,
            message=f"the database refused the change ({type(error).__name__})",
        )
    return None


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb in binary format: a version byte, then the JSON text; encoded and decoded in Rust by
    # pydantic-core, the codec of the whole hot path (commands in, events out, series stored).
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: b"\x01" + dumps(value),
        decoder=lambda data: from_json(data[1:]),
        format="binary",
    )


async def create_pool(dsn: str, size: int, command_timeout: float) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        command_timeout=command_timeout,
        init=_init_connection,
        # Tuned for many small statements: keep prepared statements, refresh idle connections.
        statement_cache_size=256,
        max_inactive_connection_lifetime=300,
    )
    return pool
