"""What a command announced: the events it caused, waited for through the tests' Kafka client and
each checked against the contract's event models before a test reads it."""

from __future__ import annotations

from service.clients.client import Document
from tests.support.kafka import CommandClient
from tests.support.programs import assert_valid_events, assert_valid_program_events


async def announced(
    client: CommandClient, command_id: str, prescriptions: int, sessions: int = 0
) -> tuple[list[Document], list[Document]]:
    """The `prescription.updated` and `session.updated` events the command caused, once at least
    these counts arrived, every one valid."""
    events = await client.events_of(command_id, prescriptions, sessions)
    assert_valid_events(*events)
    return events


async def program_announced(client: CommandClient, command_id: str) -> list[Document]:
    """The `program.updated` events the command caused, once one arrived, every one valid."""
    await client.wait_for(lambda: client.program_events(command_id))
    events = client.program_events(command_id)
    assert_valid_program_events(events)
    return events
