"""A start that cannot succeed names the setting to change: which broker and database errors
are the settings' fault (waiting will not help) and what the one line says, never a secret.

The embedded Tansu broker cannot enforce SASL, so the broker's refusal is proven here against a
listener that speaks just enough of the protocol to refuse a login."""

from __future__ import annotations

import ssl

import asyncpg
import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from pydantic import ValidationError

from service.config import Settings, without_password
from service.process.cli import InvalidSettings
from service.publish import kafka
from service.storage.database import connection_refusal, is_transient
from tests.support.refusing_broker import RefusingBroker

PASSWORD = "pa55-w0rd-Zq"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "setting"),
    [
        (SaslAuthenticationFailed("Authentication failed"), "KAFKA_SASL_USERNAME"),
        (UnsupportedSaslMechanismError("SCRAM-SHA-512 not enabled"), "KAFKA_SASL_MECHANISM"),
        (ClusterAuthorizationFailedError(), "KAFKA_SASL_USERNAME"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "KAFKA_SSL_CAFILE"),
    ],
)
def test_broker_refusals_name_the_setting_and_are_not_waited_for(
    error: Exception, setting: str
) -> None:
    refused = kafka.refusal(error)
    assert refused is not None
    assert refused.setting.startswith(setting)
    assert str(refused).startswith(setting)
    assert not kafka.unavailable(error)


@pytest.mark.parametrize(
    "error", [KafkaConnectionError("Unable to bootstrap"), ConnectionRefusedError(), TimeoutError()]
)
def test_a_broker_that_does_not_answer_is_waited_for(error: Exception) -> None:
    assert kafka.refusal(error) is None
    assert kafka.unavailable(error)


async def test_a_refused_sasl_login_is_reported_as_such() -> None:
    """aiokafka's bootstrap reports a refused login as "unable to bootstrap", like a broker
    that is down; `check_login` raises the broker's answer."""
    async with RefusingBroker() as broker:
        configured = settings(
            kafka_bootstrap_servers=f"127.0.0.1:{broker.port}",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="program-builder",
            kafka_sasl_password=PASSWORD,
        )
        with pytest.raises(SaslAuthenticationFailed) as raised:
            await kafka.check_login(configured)
        assert broker.logins == 1
        with pytest.raises(UnsupportedSaslMechanismError):
            await kafka.check_login(
                configured.model_copy(update={"kafka_sasl_mechanism": "SCRAM-SHA-512"})
            )
    refused = kafka.refusal(raised.value)
    assert refused is not None
    assert "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD" in str(refused)
    assert "Authentication failed" in str(refused)
    assert PASSWORD not in str(refused)


URL = f"postgresql://app:{PASSWORD}@db.internal:5432/program_builder"


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (asyncpg.InvalidPasswordError('password authentication failed for user "app"'), "password"),
        (asyncpg.InvalidAuthorizationSpecificationError('role "app" does not exist'), "login"),
        (asyncpg.InvalidCatalogNameError('database "program_builder" does not exist'), "database"),
        (asyncpg.InsufficientPrivilegeError("permission denied for schema public"), "privilege"),
        (asyncpg.ClientConfigurationError("sslmode requires a root certificate"), "URL"),
    ],
)
def test_database_refusals_name_the_setting_without_the_password(
    error: Exception, problem: str
) -> None:
    assert not is_transient(error)
    refused = connection_refusal(error, URL)
    assert refused is not None
    text = str(refused)
    assert text.startswith("DATABASE_URL: ")
    assert problem in text
    assert "postgresql://app:***@db.internal:5432/program_builder" in text
    assert PASSWORD not in text


@pytest.mark.parametrize(
    "error", [ConnectionRefusedError(), asyncpg.CannotConnectNowError("starting up")]
)
def test_a_database_that_does_not_answer_is_waited_for(error: Exception) -> None:
    assert is_transient(error)
    assert connection_refusal(error, URL) is None


def test_without_password() -> None:
    assert without_password(URL) == "postgresql://app:***@db.internal:5432/program_builder"
    assert without_password("postgresql://app@db/x") == "postgresql://app@db/x"


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"http_port": "eighty"}, "HTTP_PORT='eighty': Input should be a valid integer"),
        ({"http_port": 70000}, "HTTP_PORT=70000: Input should be less than or equal to 65535"),
        ({"log_level": "loud"}, "LOG_LEVEL='loud': expected DEBUG, INFO, WARNING"),
        ({"kafka_bootstrap_servers": "kafka:x"}, "KAFKA_BOOTSTRAP_SERVERS='kafka:x': expected"),
        ({"database_url": f"mysql://app:{PASSWORD}@db/x"}, "DATABASE_URL: expected postgresql://"),
        ({"kafka_sasl_password": 12}, "KAFKA_SASL_PASSWORD: Input should be a valid string"),
    ],
)
def test_invalid_settings_name_the_variable_never_a_secret(
    values: dict[str, object], line: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**values)
    text = str(InvalidSettings(raised.value))
    assert text.startswith("invalid setting ")
    assert line in text
    assert PASSWORD not in text
    assert "\n" not in text
