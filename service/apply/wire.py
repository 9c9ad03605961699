"""The wire format at the service's edge: consumed records in, results, events and dead letters out.

Everything the service publishes is written here, from typed values (inbox entries, domain
events, records), as the `contracts` models describe it; tests check each kind against those
models and the published schemas. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

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
from service.encoding import dumps
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
    `service.publish.replies`)."""
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
        value = dumps(result_payload(entry, processed_at, duplicate=duplicate))
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

    def events(self, events: Sequence[Event], trace_headers: Headers) -> list[OutgoingMessage]:
        """One command's events, in order; after a `deleted: true` one, its tombstone (same
        topic and key, null value), so a compacted topic forgets the key. Both go to one outbox
        lane in this order."""
        payloads = _Payloads()
        messages = []
        for event in events:
            topic = self._event_topics[type(event)]
            key = payloads.texts[event.key].encode()
            value = dumps(payloads.of(event))
            messages.append(OutgoingMessage(topic, key, value, trace_headers))
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
        "sync": entry.sync,
    }


def is_deletion(event: Event) -> bool:
    if isinstance(event, PrescriptionEvent):
        return event.placement is None
    return event.deleted


def event_payload(event: Event) -> dict[str, Any]:
    """A `PrescriptionUpdated`, `SessionUpdated` or `ProgramUpdated`."""
    return _Payloads().of(event)


class _Texts(dict[UUID, str]):
    """Each id's text, written once: the events of one command repeat its program, command,
    session, group and exercise ids (an import's ~50 events, each of its sessions' exercises)."""

    def __missing__(self, key: UUID) -> str:
        text = self[key] = str(key)
        return text


class _Payloads:
    """The wire form of the events of one command (what they share is written once)."""

    def __init__(self) -> None:
        self.texts = _Texts()
        self._envelopes: dict[int, tuple[Cause, dict[str, Any], bytes]] = {}

    def of(self, event: Event) -> dict[str, Any]:
        if isinstance(event, PrescriptionEvent):
            return self._prescription_updated(event)
        if isinstance(event, ProgramEvent):
            return self._program_updated(event)
        return self._session_updated(event)

    def _envelope(self, cause: Cause, topic_kind: str, key: str, event_type: str) -> dict[str, Any]:
        """The fields every event starts with, `eventId` first (keys keep this order)."""
        shared = self._envelopes.get(id(cause))
        if shared is None or shared[0] is not cause:
            fields = {
                "occurredAt": timestamp(cause.occurred_at),
                "tenantId": cause.tenant_id,
                "programId": self.texts[cause.program_id],
            }
            shared = self._envelopes[id(cause)] = (cause, fields, cause.command_id.bytes)
        _, fields, command_id = shared
        return {
            "eventId": event_id(command_id, topic_kind, key),
            "type": event_type,
            **fields,
        }

    def _program_updated(self, event: ProgramEvent) -> dict[str, Any]:
        texts, cause = self.texts, event.cause
        return {
            **self._envelope(cause, "program", texts[cause.program_id], "program.updated"),
            "programVersion": cause.program_version,
            "deleted": event.deleted,
            "name": event.name,
            "weeks": event.weeks,
            "weekLabels": [{"week": week, "label": label} for week, label in event.week_labels],
            "sessionIds": [texts[session_id] for session_id in event.session_ids],
            "source": None
            if event.source is None
            else {
                "programId": texts[event.source.program_id],
                "programVersion": event.source.program_version,
            },
            "athlete": None if event.athlete is None else event.athlete.to_wire(),
            "startDate": _date(event.start_date),
            "causationId": texts[cause.command_id],
        }

    def _prescription_updated(self, event: PrescriptionEvent) -> dict[str, Any]:
        texts, cause = self.texts, event.cause
        prescription, placement = event.prescription, event.placement
        prescription_id = texts[prescription.id]
        return {
            **self._envelope(cause, "prescription", prescription_id, "prescription.updated"),
            "sessionId": texts[event.session_id],
            "programExerciseId": texts[event.exercise.id],
            "prescriptionId": prescription_id,
            "exerciseId": texts[event.exercise.exercise_id],
            "week": prescription.week,
            "version": prescription.version,
            "programVersion": cause.program_version,
            "deleted": placement is None,
            "group": None
            if placement is None
            else {
                "groupId": texts[placement.group_id],
                "kind": placement.kind.value,
                "orderIndex": placement.order_index,
                "orderWithinGroup": placement.order_within_group,
                "size": placement.size,
            },
            "series": [
                {**item, "resolvedLoad": _resolved_load(resolved)}
                for item, resolved in zip(prescription.series, event.resolved, strict=True)
            ],
            "scheduledDate": _date(event.scheduled),
            "warmupSets": [
                {"reps": warmup.reps, "load": _resolved_load(warmup.load)}
                for warmup in event.warmups
            ],
            "causationId": texts[cause.command_id],
        }

    def _session_updated(self, event: SessionEvent) -> dict[str, Any]:
        texts, session = self.texts, event.session
        groups = (
            []
            if event.deleted
            else [
                {
                    "groupId": texts[group.id],
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
                            "programExerciseId": texts[exercise.id],
                            "exerciseId": texts[exercise.exercise_id],
                            "name": exercise.name,
                            "orderWithinGroup": index,
                            "notes": exercise.notes,
                            "alternatives": [a.to_wire() for a in exercise.alternatives],
                            "progression": None
                            if exercise.progression is None
                            else exercise.progression.to_wire(),
                            "warmup": None
                            if exercise.warmup is None
                            else exercise.warmup.to_wire(),
                        }
                        for index, exercise in enumerate(group.exercises)
                    ],
                }
                for group_index, group in enumerate(session.groups)
            ]
        )
        session_id = texts[session.id]
        return {
            **self._envelope(event.cause, "session", session_id, "session.updated"),
            "sessionId": session_id,
            "programVersion": event.cause.program_version,
            "deleted": event.deleted,
            "name": session.name,
            "orderIndex": event.order_index,
            "groups": groups,
            "dayOffset": session.day_offset,
            "rescheduled": [
                {"week": week, "date": day.isoformat()}
                for week, day in sorted(session.rescheduled.items())
            ],
            "sourceSessionId": None if session.origin is None else texts[session.origin],
            "customised": session.customised,
            "causationId": texts[event.cause.command_id],
        }


def _date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _resolved_load(resolved: ResolvedLoad | None) -> dict[str, Any] | None:
    """A `ResolvedLoad`: a decimal of at most two places, as a JSON number."""
    if resolved is None:
        return None
    return {"value": float(resolved.value), "unit": resolved.unit}
