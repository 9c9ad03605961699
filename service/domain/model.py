"""The program aggregate: sessions → exercise groups → program exercises → prescriptions → series.

Orders are list positions, so they are contiguous from 0 by construction; a group's kind is
derived from its size. Sets are kept in their wire form (camelCase dicts, nulls left out), which
is what is stored in JSONB and published, so nothing is converted twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from uuid import UUID

from contracts.athletes import Athlete
from contracts.events import GroupKind
from contracts.exercises import Alternative, Progression, Warmup
from contracts.groups import GROUP_SETTINGS, GroupFormat, GroupSettingsInput
from service.domain.errors import NotFound, PrescriptionsNotLoaded

SetData = dict[str, Any]
"""One set in wire form, `orderIndex` equal to its position."""


def with_order_index(data: SetData, index: int) -> SetData:
    """The set with `orderIndex` set to `index` (first, as on the wire)."""
    return {"orderIndex": index, **{k: v for k, v in data.items() if k != "orderIndex"}}


def normalized_athlete(athlete: Athlete) -> Athlete:
    """The athlete as a program keeps and publishes it: maxes ordered by exerciseId."""
    ordered = sorted(athlete.maxes, key=lambda m: str(m.exercise_id))
    return athlete if ordered == athlete.maxes else athlete.model_copy(update={"maxes": ordered})


@dataclass(frozen=True, slots=True)
class ProgramExercise:
    """A catalog exercise in a group; with the coach's notes, the swaps allowed in order
    of preference and the progression rule for the athlete's app; with its warm-up."""

    id: UUID
    exercise_id: UUID
    name: str
    notes: str | None = None
    alternatives: tuple[Alternative, ...] = ()
    progression: Progression | None = None
    warmup: Warmup | None = None
    # In a copy, the program exercise of the source it was copied from (None: none)
    origin: UUID | None = None


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """How a superset or circuit is performed; the default is plain rounds with nothing set."""

    rounds: int | None = None
    rest_between_rounds_seconds: int | None = None
    notes: str | None = None
    format: GroupFormat = GroupFormat.ROUNDS
    time_cap_seconds: int | None = None
    interval_seconds: int | None = None
    interval_rest_seconds: int | None = None

    @classmethod
    def of(cls, given: GroupSettingsInput) -> GroupSettings:
        """The settings a snapshot gives (an absent format is `rounds`)."""
        return cls().updated(given)

    def values(self) -> tuple[Any, ...]:
        """The settings in their stored order, the format as its wire value."""
        return (
            self.rounds,
            self.rest_between_rounds_seconds,
            self.notes,
            self.format.value,
            self.time_cap_seconds,
            self.interval_seconds,
            self.interval_rest_seconds,
        )

    @classmethod
    def of_values(cls, values: Sequence[Any]) -> GroupSettings:
        """The settings `values` gave."""
        rounds, rest, notes, group_format, time_cap, interval, interval_rest = values
        return cls(
            rounds, rest, notes, GroupFormat(group_format), time_cap, interval, interval_rest
        )

    def updated(self, given: GroupSettingsInput) -> GroupSettings:
        """These settings with the given fields laid over them: null clears (a cleared format is
        `rounds`), absent keeps."""
        changes = {name: getattr(given, name) for name in given.model_fields_set & GROUP_SETTINGS}
        if "format" in changes and changes["format"] is None:
            changes["format"] = GroupFormat.ROUNDS
        return replace(self, **changes)


NO_SETTINGS = GroupSettings()


@dataclass(slots=True)
class ExerciseGroup:
    id: UUID
    exercises: list[ProgramExercise]
    settings: GroupSettings = NO_SETTINGS
    origin: UUID | None = None  # In a copy, the source's group it was copied from

    @property
    def kind(self) -> GroupKind:
        return GroupKind.of_size(len(self.exercises))

    def copy(self) -> ExerciseGroup:
        return replace(self, exercises=list(self.exercises))


@dataclass(slots=True)
class Session:
    """`day_offset` is the day of every week the session falls on (0..6, None: none);
    `rescheduled` maps a week to the date that week's session was moved to. The mapping is
    replaced, never changed in place: events keep the session they announce.

    In a copy, `origin` is the source's session it was copied from (None: added in the copy)
    and `customised` says an operation of the copy named it since (see `customise`)."""

    id: UUID
    name: str
    groups: list[ExerciseGroup]
    day_offset: int | None = None
    rescheduled: dict[int, date] = field(default_factory=dict)
    origin: UUID | None = None
    customised: bool = False

    def copy(self) -> Session:
        return replace(self, groups=[group.copy() for group in self.groups])

    def exercises(self) -> Iterator[ProgramExercise]:
        for group in self.groups:
            yield from group.exercises

    def entity_ids(self) -> Iterator[UUID]:
        """Its id, and those of its groups and program exercises."""
        yield self.id
        for group in self.groups:
            yield group.id
            yield from (exercise.id for exercise in group.exercises)


@dataclass(frozen=True, slots=True)
class Prescription:
    id: UUID
    program_exercise_id: UUID
    week: int
    version: int
    series: tuple[SetData, ...]

    def next_version(self) -> Prescription:
        """This prescription one version on, as announcing it makes it. Built directly, not with
        `dataclasses.replace`: an import bumps every prescription it creates, and `replace`
        costs several times the constructor."""
        return Prescription(
            self.id, self.program_exercise_id, self.week, self.version + 1, self.series
        )


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an exercise stands; a change of any field is announced on its prescriptions."""

    session_id: UUID
    group_id: UUID
    kind: GroupKind
    order_index: int
    order_within_group: int
    size: int


@dataclass(frozen=True, slots=True)
class Location:
    session: Session
    group: ExerciseGroup
    exercise: ProgramExercise
    group_index: int
    index_in_group: int


@dataclass(frozen=True, slots=True)
class ProgramSource:
    """The template (and its version) that a `program.copy` made a program from."""

    program_id: UUID
    program_version: int


@dataclass(slots=True)
class Program:
    id: UUID
    tenant_id: str
    name: str
    weeks: int
    version: int
    sessions: list[Session] = field(default_factory=list)
    week_labels: dict[int, str] = field(default_factory=dict)
    source: ProgramSource | None = None
    # The athlete of an assigned program (maxes ordered by exerciseId); None: a template.
    athlete: Athlete | None = None
    # The first day of week 0 on the athlete's calendar; None: not scheduled.
    start_date: date | None = None
    # In a copy: the origins of the sessions it removed (a sync keeps them removed), and
    # whether its origins are known (False: a copy made before v1.3 that the migration could not
    # recover; it cannot be synced).
    removed_origins: frozenset[UUID] = frozenset()
    origins_known: bool = True
    deleted: bool = False
    # Prescriptions by program exercise, then week; only for exercises in `loaded`.
    prescriptions: dict[UUID, dict[int, Prescription]] = field(default_factory=dict)
    loaded: set[UUID] = field(default_factory=set)

    def copy(self) -> Program:
        """A copy to apply a batch on: structure copied, prescriptions (immutable) shared."""
        return replace(
            self,
            sessions=[session.copy() for session in self.sessions],
            week_labels=dict(self.week_labels),
            prescriptions={pe: dict(weeks) for pe, weeks in self.prescriptions.items()},
            loaded=set(self.loaded),
        )

    def view(self) -> Program:
        """This program as it is now, for a handler that changes it in place by replacing its
        sessions and prescriptions (never changing one): the lists and mappings are copied."""
        # Built directly: `dataclasses.replace` costs a series edit more than the edit itself.
        return Program(
            self.id,
            self.tenant_id,
            self.name,
            self.weeks,
            self.version,
            list(self.sessions),
            dict(self.week_labels),
            self.source,
            self.athlete,
            self.start_date,
            self.removed_origins,
            self.origins_known,
            self.deleted,
            {pe: dict(weeks) for pe, weeks in self.prescriptions.items()},
            self.loaded,
        )

    # --- lookups

    def session(self, session_id: UUID, path: str = "sessionId") -> tuple[int, Session]:
        for index, session in enumerate(self.sessions):
            if session.id == session_id:
                return index, session
        raise NotFound(f"session {session_id} not found in program {self.id}", path=path)

    def group(self, group_id: UUID, path: str = "groupId") -> tuple[Session, int, ExerciseGroup]:
        for session in self.sessions:
            for index, group in enumerate(session.groups):
                if group.id == group_id:
                    return session, index, group
        raise NotFound(f"exercise group {group_id} not found in program {self.id}", path=path)

    def locate(self, program_exercise_id: UUID, path: str = "programExerciseId") -> Location:
        for session in self.sessions:
            for group_index, group in enumerate(session.groups):
                for index, exercise in enumerate(group.exercises):
                    if exercise.id == program_exercise_id:
                        return Location(session, group, exercise, group_index, index)
        raise NotFound(
            f"program exercise {program_exercise_id} not found in program {self.id}", path=path
        )

    def contains_id(self, entity_id: UUID) -> bool:
        for session in self.sessions:
            if session.id == entity_id:
                return True
            for group in session.groups:
                if group.id == entity_id or any(e.id == entity_id for e in group.exercises):
                    return True
        return False

    def exercise_ids(self) -> set[UUID]:
        return {exercise.id for session in self.sessions for exercise in session.exercises()}

    def prescriptions_of(self, program_exercise_id: UUID) -> dict[int, Prescription]:
        if program_exercise_id not in self.loaded:
            raise PrescriptionsNotLoaded(program_exercise_id)
        return self.prescriptions.setdefault(program_exercise_id, {})

    def placements(self, session: Session) -> dict[UUID, Placement]:
        return {
            exercise.id: Placement(
                session.id, group.id, group.kind, group_index, index, len(group.exercises)
            )
            for group_index, group in enumerate(session.groups)
            for index, exercise in enumerate(group.exercises)
        }
