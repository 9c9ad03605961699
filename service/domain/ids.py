"""Ids the service derives: uuid5(namespace=commandId, name), so replays create the same ids."""

from __future__ import annotations

from hashlib import sha1
from uuid import UUID, SafeUUID

_new_uuid = object.__new__
_set = object.__setattr__
# RFC 4122 version 5: the version nibble and the variant bits, as `uuid.UUID(version=5)` sets them.
_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5 = (5 << 76) | (0x8000 << 48)


def uuid5(namespace: UUID | bytes, name: str) -> UUID:
    """`uuid.uuid5`, the same id, at a fraction of its cost: an import derives one per
    prescription and event, and the standard one imports `hashlib` and checks its arguments on
    every call. `namespace` may be given as its 16 bytes, computed once per command."""
    if isinstance(namespace, UUID):
        namespace = namespace.bytes
    # SHA-1 is what RFC 4122 names for version 5: an id, not a secret.
    digest = sha1(namespace + name.encode(), usedforsecurity=False).digest()
    derived = _new_uuid(UUID)
    _set(derived, "int", int.from_bytes(digest[:16]) & _KEEP | _VERSION_5)
    _set(derived, "is_safe", SafeUUID.unknown)
    return derived


def uuid5_text(namespace: bytes, name: str) -> str:
    """`str(uuid5(namespace, name))`, without the `UUID` in between: an event id is only ever
    written out, ~50 times per imported program."""
    digest = bytearray(sha1(namespace + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class IdDeriver:
    """Derives ids for one command; inside a batch every name gets the operation's prefix (`2:`)."""

    __slots__ = ("_namespace", "command_id", "prefix")

    def __init__(self, command_id: UUID, prefix: str = "") -> None:
        self.command_id = command_id
        self.prefix = prefix
        self._namespace = command_id.bytes

    def derive(self, name: str) -> UUID:
        return uuid5(self._namespace, f"{self.prefix}{name}")

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


def event_id(command_id: bytes, topic_kind: str, key: str) -> str:
    """Deterministic per (command, key): a redelivered event keeps its eventId for dedupe. From
    the command id's bytes and the key's text, as text: uuid5(commandId, "event:<kind>:<key>")."""
    return uuid5_text(command_id, f"event:{topic_kind}:{key}")
