"""Ids the service derives: uuid5(namespace=commandId, name), so replays create the same ids."""

from __future__ import annotations

from uuid import UUID, uuid5


class IdDeriver:
    """Derives ids for one command; inside a batch every name gets the operation's prefix (`2:`)."""

    __slots__ = ("command_id", "prefix")

    def __init__(self, command_id: UUID, prefix: str = "") -> None:
        self.command_id = command_id
        self.prefix = prefix

    def derive(self, name: str) -> UUID:
        return uuid5(self.command_id, f"{self.prefix}{name}")

    def group(self) -> UUID:
        return self.derive("group")

    def prescription(self, program_exercise_id: UUID, week: int) -> UUID:
        return self.derive(f"prescription:{program_exercise_id}:{week}")

    def copy_of(self, source_id: UUID) -> UUID:
        return self.derive(str(source_id))

    def legacy_group(self, first_member_id: UUID) -> UUID:
        return self.derive(f"group:{first_member_id}")

    def for_operation(self, index: int) -> IdDeriver:
        return IdDeriver(self.command_id, f"{index}:")


def event_id(command_id: UUID, topic_kind: str, key: UUID) -> UUID:
    """Deterministic per (command, key): a redelivered event keeps its eventId for dedupe."""
    return uuid5(command_id, f"event:{topic_kind}:{key}")
