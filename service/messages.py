"""The wire format at the service's edge: consumed records in, results, events and dead letters out.

Everything the service publishes is written here, from typed values (inbox entries, domain
events, records), as the `contracts` models describe it; tests check each kind against those
models and the published schemas. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from contracts.dlq import (
    HEADER_CORRELATION_ID,
    HEADER_ERROR_CODE,
    HEADER_ERROR_MESSAGE,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    HEADER_REPLY_TO,
)
from contracts.headers import TOPIC_NAME_PATTERN
from contracts.topics import Topics
from service.domain.events import Cause, Event, PrescriptionEvent, ProgramEvent, SessionEvent
from service.domain.ids import event_id
from service.domain.loads import ResolvedLoad
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage
from service.tracing import Headers

log = logging.getLogger("program_builder.messages")


_TOPIC_NAME = re.compile(TOPIC_NAME_PATTERN)

DEAD_LETTER_HEADERS = frozenset(
    {
        HEADER_ERROR_CODE,
        HEADER_ERROR_MESSAGE,
        HEADER_ORIGINAL_TOPIC,
        HEADER_ORIGINAL_PARTITION,
        HEADER_ORIGINAL_OFFSET,
    }
)
"""Set on a dead letter by the service alone: a message's own headers of these names are dropped."""


def legal_topic_name(name: str) -> bool:
    """What Kafka accepts as a topic name (a legal one may still not be writable: see
    `service.replies`)."""
    return _TOPIC_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed message, free of Kafka client types."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@functools.lru_cache(maxsize=256)  # every event of a command repeats its moment
def timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with a `Z`, as every timestamp on the wire."""
    return moment.isoformat().replace("+00:00", "Z")


class Messages:
    """Builds the outgoing messages of one service instance's topics."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self._event_topics = {
            PrescriptionEvent: topics.prescription_updated,
            SessionEvent: topics.session_updated,
            ProgramEvent: topics.program_updated,
        }

    def results(
        self,
        record: Record,
        entry: InboxEntry,
        processed_at: datetime,
        trace_headers: Headers,
        *,
        duplicate: bool,
    ) -> list[OutgoingMessage]:
        """The command's result on the results topic, and on its `reply-to` topic if it has a
        legal one, both with the command's `correlation_id`."""
        value = to_json(result_payload(entry, processed_at, duplicate=duplicate))
        key = str(entry.command_id).encode()
        correlation = record.header(HEADER_CORRELATION_ID)
        headers = trace_headers
        if correlation is not None:
            headers = ((HEADER_CORRELATION_ID, correlation), *headers)
        messages = [OutgoingMessage(self.topics.command_results, key, value, headers)]
        reply_to = self.reply_topic(record)
        if reply_to:
            messages.append(OutgoingMessage(reply_to, key, value, headers))
        return messages

    def reply_topic(self, record: Record) -> str | None:
        """The requester's topic, if it is a legal Kafka topic name that is not one of ours."""
        raw = record.header(HEADER_REPLY_TO)
        if not raw:
            return None
        topic = raw.decode(errors="replace")
        if not legal_topic_name(topic) or topic in self.topics.all():
            log.warning("ignoring reply-to %r: not a topic we may answer on", topic[:300])
            return None
        return topic

    def events(self, event: Event, trace_headers: Headers) -> list[OutgoingMessage]:
        """The event; after a `deleted: true` one, its tombstone (same topic and key, null
        value), so a compacted topic forgets the key. Both go to one outbox lane in this order."""
        topic, key = self._event_topics[type(event)], str(event.key).encode()
        messages = [OutgoingMessage(topic, key, to_json(event_payload(event)), trace_headers)]
        if is_deletion(event):
            messages.append(OutgoingMessage(topic, key, None, trace_headers))
        return messages

    def dead_letter(self, record: Record, code: str, message: str) -> OutgoingMessage:
        """The original key and bytes, unchanged, with why and where they came from."""
        headers = (
            *((name, value) for name, value in record.headers if name not in DEAD_LETTER_HEADERS),
            (HEADER_ERROR_CODE, code.encode()),
            (HEADER_ERROR_MESSAGE, message.encode()),
            (HEADER_ORIGINAL_TOPIC, record.topic.encode()),
            (HEADER_ORIGINAL_PARTITION, str(record.partition).encode()),
            (HEADER_ORIGINAL_OFFSET, str(record.offset).encode()),
        )
        return OutgoingMessage(self.topics.dead_letters, record.key, record.value or b"", headers)


def result_payload(entry: InboxEntry, processed_at: datetime, *, duplicate: bool) -> dict[str, Any]:
    """A `CommandResult`: a duplicate repeats the first outcome's version and error."""
    return {
        "commandId": str(entry.command_id),
        "type": entry.command_type,
        "programId": str(entry.program_id) if entry.program_id else None,
        "status": "duplicate" if duplicate else entry.status,
        "programVersion": entry.program_version,
        "error": entry.error,
        "processedAt": timestamp(processed_at),
    }


def is_deletion(event: Event) -> bool:
    if isinstance(event, PrescriptionEvent):
        return event.placement is None
    return event.deleted


def event_payload(event: Event) -> dict[str, Any]:
    """A `PrescriptionUpdated`, `SessionUpdated` or `ProgramUpdated`."""
    if isinstance(event, PrescriptionEvent):
        return _prescription_updated(event)
    if isinstance(event, ProgramEvent):
        return _program_updated(event)
    return _session_updated(event)


def _program_updated(event: ProgramEvent) -> dict[str, Any]:
    return {
        **_envelope(event.cause, "program", event.key, "program.updated"),
        "programVersion": event.cause.program_version,
        "deleted": event.deleted,
        "name": event.name,
        "weeks": event.weeks,
        "weekLabels": [{"week": week, "label": label} for week, label in event.week_labels],
        "sessionIds": [str(session_id) for session_id in event.session_ids],
        "source": None
        if event.source is None
        else {
            "programId": str(event.source.program_id),
            "programVersion": event.source.program_version,
        },
        "athlete": None if event.athlete is None else event.athlete.to_wire(),
        "causationId": str(event.cause.command_id),
    }


def _envelope(cause: Cause, topic_kind: str, key: Any, event_type: str) -> dict[str, Any]:
    return {
        "eventId": str(event_id(cause.command_id, topic_kind, key)),
        "type": event_type,
        "occurredAt": timestamp(cause.occurred_at),
        "tenantId": cause.tenant_id,
        "programId": str(cause.program_id),
    }


def _prescription_updated(event: PrescriptionEvent) -> dict[str, Any]:
    prescription, placement = event.prescription, event.placement
    return {
        **_envelope(event.cause, "prescription", prescription.id, "prescription.updated"),
        "sessionId": str(event.session_id),
        "programExerciseId": str(event.exercise.id),
        "prescriptionId": str(prescription.id),
        "exerciseId": str(event.exercise.exercise_id),
        "week": prescription.week,
        "version": prescription.version,
        "programVersion": event.cause.program_version,
        "deleted": placement is None,
        "group": None
        if placement is None
        else {
            "groupId": str(placement.group_id),
            "kind": placement.kind.value,
            "orderIndex": placement.order_index,
            "orderWithinGroup": placement.order_within_group,
            "size": placement.size,
        },
        "series": [
            {**item, "resolvedLoad": _resolved_load(resolved)}
            for item, resolved in zip(prescription.series, event.resolved, strict=True)
        ],
        "causationId": str(event.cause.command_id),
    }


def _resolved_load(resolved: ResolvedLoad | None) -> dict[str, Any] | None:
    """A `ResolvedLoad`: a decimal of at most two places, as a JSON number."""
    if resolved is None:
        return None
    return {"value": float(resolved.value), "unit": resolved.unit}


def _session_updated(event: SessionEvent) -> dict[str, Any]:
    session = event.session
    groups = (
        []
        if event.deleted
        else [
            {
                "groupId": str(group.id),
                "orderIndex": group_index,
                "kind": group.kind.value,
                "rounds": group.settings.rounds,
                "restBetweenRoundsSeconds": group.settings.rest_between_rounds_seconds,
                "notes": group.settings.notes,
                "format": group.settings.format.value,
                "timeCapSeconds": group.settings.time_cap_seconds,
                "intervalSeconds": group.settings.interval_seconds,
                "intervalRestSeconds": group.settings.interval_rest_seconds,
                "exercises": [
                    {
                        "programExerciseId": str(exercise.id),
                        "exerciseId": str(exercise.exercise_id),
                        "name": exercise.name,
                        "orderWithinGroup": index,
                        "notes": exercise.notes,
                        "alternatives": [a.to_wire() for a in exercise.alternatives],
                        "progression": None
                        if exercise.progression is None
                        else exercise.progression.to_wire(),
                    }
                    for index, exercise in enumerate(group.exercises)
                ],
            }
            for group_index, group in enumerate(session.groups)
        ]
    )
    return {
        **_envelope(event.cause, "session", session.id, "session.updated"),
        "sessionId": str(session.id),
        "programVersion": event.cause.program_version,
        "deleted": event.deleted,
        "name": session.name,
        "orderIndex": event.order_index,
        "groups": groups,
        "causationId": str(event.cause.command_id),
    }
