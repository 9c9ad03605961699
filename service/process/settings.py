"""The settings of a command from the environment, refused with one line naming each bad
variable, and `migrate`: the schema brought up to date before the service may run on it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.process.signals import run_cancellable

if TYPE_CHECKING:
    from pydantic import ValidationError

    from service.config import Settings

log = logging.getLogger("program_builder")

EXIT_INVALID_SETTINGS = 2
"""A setting could not be parsed (the line names the environment variable)."""


def load_settings() -> Settings:
    """The settings from the environment, or `InvalidSettings` naming each bad variable."""
    from pydantic import ValidationError

    from service.config import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettings(error) from None


class InvalidSettings(Exception):
    """Settings that do not parse; its text names each variable (never a secret's value)."""

    def __init__(self, error: ValidationError) -> None:
        problems = []
        for item in error.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            shown = "" if _is_secret(field) else f"={item['input']!r}"
            message = item["msg"]
            if item["type"] == "value_error":  # ours: without pydantic's "Value error, "
                message = str(item.get("ctx", {}).get("error", message))
            problems.append(f"{field.upper() or 'settings'}{shown}: {message}")
        super().__init__("invalid setting " + "; ".join(problems))


def _is_secret(field: str) -> bool:
    from service.config import Settings

    info = Settings.model_fields.get(field)
    return info is None or "SecretStr" in str(info.annotation)


async def _migrate(settings: Settings) -> list[str]:
    import asyncpg

    from service.config import ConfigurationError, without_password
    from service.storage.database import connection_refusal
    from service.storage.migrations import MigrationError, migrate, schema_refusal

    url = settings.database_url.get_secret_value()
    try:
        connection = await asyncpg.connect(url, timeout=30)
    except Exception as error:
        refused = connection_refusal(error, url)
        if refused is not None:
            raise refused from error
        raise ConfigurationError(
            "DATABASE_URL", f"cannot connect ({error}) to {without_password(url)}"
        ) from error
    try:
        return await migrate(connection)
    except MigrationError as error:
        raise schema_refusal(error, url) from error
    finally:
        await connection.close()


def migrate_database(settings: Settings) -> int:
    applied = run_cancellable(lambda: _migrate(settings))
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none (up to date)")
    return 0
