"""One seeded generator of commands of every type the contract has, over a set of programs.

Commands are chosen from the state the domain core predicts (`tests.support.domain.Programs`),
so most apply; some are refused on purpose (an unknown id, an id in use, a position past the
end, a field out of range, a stale expectedVersion, a type the contract does not have). Each
command's outcome is predicted as the service decides it. Commands of different programs never
depend on each other, so the predictions hold whatever order the partitions interleave in.
Raw streams (`messages`) add duplicates (a commandId sent again) and unreadable messages.

A `program.copy` makes a program that later commands edit, sync with its source
(`program.sync`, dry or real) and revert like any other: a copy's commands travel on its
family's key (`key_of`: its first source's id), so that a sync reads its source in the order the
commands were made, whatever the partitions. `program.revert` goes back to any kept version. A
`program.delete` retires its program id for good, so the generator takes a fresh one in its
place. Exercises come from a small catalog, so maxes, `of` loads and alternatives meet them.

Programs are put on the calendar and sessions moved (some into a week the program does
not have: `invariant_violated`, predicted), exercises get warm-ups and lose them, and some sets
are prescribed by effort alone, so that assigned programs resolve loads from RPE or RIR.
`assert_everything_drawn` is the check the long runs make that all of it was applied.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from contracts.commands import COMMAND_TYPES
from service.clients.client import Document
from service.domain.derived import date_of, loads_of
from service.domain.loads import resolution_of
from service.domain.model import ExerciseGroup, Program, ProgramExercise, Session
from tests.support.domain import Programs, ids_of

Body = dict[str, Any]
Exercise = tuple[Session, ExerciseGroup, ProgramExercise]

UNREADABLE = (b"{not json", b"[1, 2]", b'{"type": "program.update"}')

FIRST_DAY = date(2026, 11, 2)
"""The generator's calendar: start dates and rescheduled dates fall in the two years from here."""

FEATURES = frozenset(
    {
        "session.add dayOffset",
        "exercise.add warmup",
        "exercise.update warmup",
        "exercise.update warmup=null",
        "program.schedule startDate",
        "program.schedule startDate=null",
        "session.update name",
        "session.update dayOffset",
        "session.update dayOffset=null",
        "session.reschedule date",
        "session.reschedule date=null",
        "program.import startDate",
        "program.import dayOffset",
        "program.import rescheduled",
        "program.import warmup",
        "batch program.schedule",
        "batch session.update",
        "batch session.reschedule",
        "batch exercise.update warmup",
        # What the programs end up with (`CommandGenerator.derived_features`).
        "resolvedLoad from effort",
        "warmupSets",
        "scheduledDate",
        "scheduledDate rescheduled",
        # Templates that stay in sync, and undo (the second half).
        "program.sync dryRun",
        "program.sync fromWeek",
        "program.sync override",
        "sync synced",
        "sync new",
        "sync custom",
        "revert over a sync",
    }
)
"""The fields and values a long run must draw besides the command types (`features_of`): the
calendar, warm-ups, loads from effort, syncs and reverts."""


class CommandGenerator:
    """Commands for `programs` programs of one tenant, each with its predicted outcome."""

    def __init__(
        self,
        seed: int,
        *,
        programs: int = 1,
        tenant_id: str = "tenant-a",
        weeks: int = 3,
        refusals: float = 0.05,
    ) -> None:
        self.rng = random.Random(seed)
        self.model = Programs(tenant_id)
        self.weeks = weeks
        self.refusals = refusals
        self.program_ids = [self._uuid() for _ in range(programs)]
        self.catalog = [self._new() for _ in range(6)]
        self.commands: list[Document] = []
        self.expected: dict[str, str] = {}  # commandId -> applied | rejected
        self.keys: dict[UUID, UUID] = {}  # a copy -> the id of its family's first program
        self.copies_kept = max(2, programs // 2)  # copies that take commands, at most
        self.sync_states: set[str] = set()  # what the real syncs applied found
        self.reverted_syncs = 0  # reverts that went back over a sync
        self.sync_versions: dict[UUID, list[int]] = {}  # the versions real syncs made
        self._edits: list[tuple[float, Callable[[Program, Exercise], Body | None]]] = [
            (2, self._exercise_remove),
            (6, self._exercise_move_to_group),
            (3, self._exercise_move_to_new_group),
            (4, self._exercises_group),
            (2, self._group_ungroup),
            (3, self._groups_reorder),
            (3, self._group_update),
            (2, self._session_copy),
            (1, self._session_remove),
            (3, self._batch),
            (1, self._program_republish),
            (2, self._program_update),
            (22, self._series_replace),
            (10, self._series_add),
            (8, self._series_update),
            (6, self._series_remove),
            (6, self._series_move),
            # weeks, formats, copies and deletion
            (2, self._week_copy),
            (1, self._week_insert),
            (1, self._week_remove),
            (2, self._series_progress),
            (1, self._week_labels),
            (1, self._group_format),
            (1, self._program_copy),
            (0.3, self._program_delete),
            # athletes and exercises
            (2, self._program_assign),
            (1, self._program_unassign),
            (3, self._maxes_set),
            (4, self._exercise_update),
            # the calendar, syncs and reverts
            (2, self._program_schedule),
            (3, self._session_update),
            (3, self._session_reschedule),
            (8, self._program_sync),
            (1.5, self._program_revert),
        ]

    # --- what the tests take

    def next(self, program_id: UUID | None = None) -> Document:
        """The next command for `program_id` (by default one of the programs at random)."""
        program_id = program_id or self.rng.choice(self.program_ids)
        body = self._choose(program_id)
        if self.rng.random() < self.refusals:
            body = self._refused(body, self.model.programs.get(program_id))
        command = {
            "commandId": str(self._uuid()),
            "tenantId": self.model.tenant_id,
            "programId": str(program_id),
            **body,
        }
        syncs_before = self._syncs_in_reach(program_id, command)
        result = self.model.request(command)
        self.commands.append(command)
        self.expected[command["commandId"]] = result["status"]
        if result["status"] == "applied":
            self._follow(program_id, body, result, syncs_before)
        return command

    def key_of(self, program_id: UUID) -> UUID:
        """The key a program's commands travel on: its own id, or its family's for a copy."""
        return self.keys.get(program_id, program_id)

    def _follow(self, program_id: UUID, body: Body, result: Document, syncs_before: bool) -> None:
        kind = body["type"]
        if kind == "program.delete":
            # Its id is never used again: later commands go to a new program in its place.
            self.program_ids[self.program_ids.index(program_id)] = self._uuid()
        elif kind == "program.copy" and len(self.keys) < self.copies_kept:
            copy = UUID(body["newProgramId"])
            self.keys[copy] = self.key_of(program_id)
            self.program_ids.append(copy)
        elif kind == "program.sync" and not body.get("dryRun"):
            self.sync_states |= {s["state"] for s in result["sync"]["sessions"]}
            self.sync_versions.setdefault(program_id, []).append(result["programVersion"])
        elif kind == "program.revert" and syncs_before:
            self.reverted_syncs += 1

    def _syncs_in_reach(self, program_id: UUID, command: Document) -> bool:
        """Whether `command` is a revert that goes back over a version a real sync made."""
        return command["type"] == "program.revert" and any(
            version > command["toVersion"] for version in self.sync_versions.get(program_id, ())
        )

    def batch(self, count: int) -> list[Document]:
        return [self.next() for _ in range(count)]

    def messages(self, count: int) -> list[tuple[bytes, bytes]]:
        """`count` (key, value) messages: commands, about 1 % of them sent again and 0.5 %
        unreadable (for the DLQ)."""
        messages: list[tuple[bytes, bytes]] = []
        while len(messages) < count:
            roll = self.rng.random()
            if roll < 0.01 and messages:
                key, value = messages[self.rng.randrange(len(messages))]
                if b"commandId" in value:
                    messages.append((key, value))
            elif roll < 0.015:
                program_id = self.rng.choice(self.program_ids)
                messages.append((str(program_id).encode(), self.rng.choice(UNREADABLE)))
            else:
                command = self.next()
                value = json.dumps(command).encode()
                key = str(self.key_of(UUID(command["programId"])))
                messages.append((key.encode(), value))
        return messages

    def applied(self) -> Iterator[Document]:
        return (c for c in self.commands if self.expected[c["commandId"]] == "applied")

    def applied_types(self) -> set[str]:
        return {c["type"] for c in self.applied()}

    def applied_features(self) -> set[str]:
        """The features (`FEATURES`) of the commands applied and of what the programs
        hold now."""
        drawn = {feature for command in self.applied() for feature in features_of(command)}
        drawn |= {f"sync {state}" for state in self.sync_states}
        if self.reverted_syncs:
            drawn.add("revert over a sync")
        return drawn | self.derived_features()

    def derived_features(self) -> set[str]:
        """What the programs' events derive besides a percent-of-1RM load: a load resolved from
        effort, warm-up sets, a scheduled date (from the calendar and from a rescheduling)."""
        found: set[str] = set()
        for program in self.model.programs.values():
            resolution = resolution_of(program.athlete)
            for session in program.sessions:
                for exercise in session.exercises():
                    for week, prescription in program.prescriptions_of(exercise.id).items():
                        resolved, warmups = loads_of(resolution, exercise, prescription.series)
                        if any(
                            load is not None and "load" not in item
                            for item, load in zip(prescription.series, resolved, strict=True)
                        ):
                            found.add("resolvedLoad from effort")
                        if warmups:
                            found.add("warmupSets")
                        if date_of(program, session, week) is not None:
                            found.add("scheduledDate")
                            if week in session.rescheduled:
                                found.add("scheduledDate rescheduled")
        return found

    # --- choosing

    def _uuid(self) -> UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _new(self) -> str:
        return str(self._uuid())

    def _choose(self, program_id: UUID) -> Body:
        rng = self.rng
        program = self.model.programs.get(program_id)
        if program is None:
            if rng.random() < 0.4:
                return {"type": "program.import", "program": self._snapshot()}
            return {"type": "program.create", "name": "Block", "weeks": self.weeks}
        if self.sync_versions.get(program_id) and rng.random() < 0.08:
            undo = self._program_revert(program, None)  # often: the undo of the latest sync
            if undo is not None:
                return undo
        sessions = program.sessions
        exercises = [(s, g, e) for s in sessions for g in s.groups for e in g.exercises]
        roll = rng.random()
        if not sessions or (roll < 0.04 and len(sessions) < 4):
            body: Body = {"type": "session.add", "sessionId": self._new(), "name": "Day"}
            if rng.random() < 0.6:
                body["dayOffset"] = rng.choice([None, 0, 2, 4, 6])
            return body | ({"position": rng.randint(0, len(sessions))} if sessions else {})
        if len(exercises) < 3 or roll < 0.12:
            return self._exercise_add(rng.choice(sessions))
        weights = [weight for weight, _ in self._edits]
        while True:
            [(_, edit)] = rng.choices(self._edits, weights)
            edited = edit(program, rng.choice(exercises))
            if edited is not None:
                return edited

    def _snapshot(self) -> Body:
        if self.rng.random() < 0.3:
            return self._legacy_snapshot()
        exercise: Body = {
            "programExerciseId": self._new(),
            "exerciseId": self.rng.choice(self.catalog),
            "name": "Imported lift",
            "prescriptions": [{"week": 0, "series": self._sets(3)}],
        }
        if self.rng.random() < 0.5:
            exercise |= self._exercise_fields(exercise["exerciseId"])
        if self.rng.random() < 0.4:
            exercise["warmup"] = self._warmup()
        if self.rng.random() < 0.2:  # as an export rebuilt from the events: accepted, ignored
            exercise["prescriptions"][0] |= {"scheduledDate": self._date(), "warmupSets": []}
        group = {"groupId": self._new(), "exercises": [exercise]}
        session: Body = {"sessionId": self._new(), "name": "Day", "groups": [group]}
        if self.rng.random() < 0.5:
            session["dayOffset"] = self.rng.randint(0, 6)
        if self.rng.random() < 0.4:
            weeks = self.rng.sample(range(self.weeks), self.rng.randint(1, min(2, self.weeks)))
            session["rescheduled"] = [{"week": w, "date": self._date()} for w in sorted(weeks)]
        snapshot: Body = {"name": "Imported", "weeks": self.weeks, "sessions": [session]}
        if self.rng.random() < 0.5:
            snapshot["athlete"] = self._athlete()
        if self.rng.random() < 0.3:
            snapshot["weekLabels"] = [{"week": 0, "label": "intro"}]
        if self.rng.random() < 0.5:
            snapshot["startDate"] = self._date()
        return snapshot

    def _legacy_snapshot(self) -> Body:
        exercises = [
            {
                "programExerciseId": self._new(),
                "exerciseId": self.rng.choice(self.catalog),
                "name": "Old lift",
                "orderIndex": at,
                "supersetGroup": 1 if at < 2 else None,
                "supersetOrder": at if at < 2 else None,
                "prescriptionRows": [{"week": 0, "sets": 3, "reps": 5, "weight": 80}],
            }
            for at in range(3)
        ]
        session = {"sessionId": self._new(), "name": "Old day", "exercises": exercises}
        return {"format": "legacy", "name": "Legacy", "weeks": self.weeks, "sessions": [session]}

    def _sets(self, count: int) -> list[Body]:
        """Sets with now and then a relative load (of the exercise's own max or of another),
        or no load but an effort: an RPE or an RIR, sometimes off the chart."""
        sets: list[Body] = []
        for _ in range(count):
            one: Body = {"reps": self.rng.randint(1, 12)}
            roll = self.rng.random()
            if roll < 0.25:
                one["rpe"] = self.rng.choice([6, 6.5, 7.5, 8, 9, 10])
            elif roll < 0.35:
                one["rir"] = self.rng.randint(0, 4)
            elif roll < 0.6:
                one["load"] = {
                    "value": self.rng.choice([60, 72.5, 80, 93.75]),
                    "unit": "percent1rm",
                }
                if self.rng.random() < 0.3:
                    one["load"]["of"] = self.rng.choice(self.catalog)
            elif roll < 0.7:
                one["load"] = {"value": self.rng.choice([20, 60]), "unit": "kg"}
                one["perSide"] = True
            sets.append(one)
        return sets

    def _athlete(self) -> Body:
        rng = self.rng
        maxes = [
            {
                "exerciseId": e,
                "value": rng.choice([60, 102.5, 140, 225]),
                "unit": rng.choice(["kg", "lb"]),
            }
            for e in rng.sample(self.catalog, rng.randint(0, 4))
        ]
        athlete: Body = {"athleteId": f"athlete-{rng.randint(1, 5)}", "maxes": maxes}
        if rng.random() < 0.5:
            athlete["trainingMaxPercent"] = rng.choice([85, 87.5, 90])
        if rng.random() < 0.3:
            athlete["rounding"] = {"kg": rng.choice([1.25, 2.5])}
        if rng.random() < 0.3:
            athlete["unit"] = rng.choice(["kg", "lb"])
        return athlete

    def _exercise_fields(self, exercise_id: str) -> Body:
        others = [e for e in self.catalog if e != exercise_id]
        progression = self.rng.choice(
            [
                {"kind": "linear", "loadStep": {"value": 2.5, "unit": "kg"}},
                {
                    "kind": "double",
                    "repsMin": 8,
                    "repsMax": 12,
                    "loadStep": {"value": 5, "unit": "lb"},
                },
            ]
        )
        return {
            "notes": "Brace hard",
            "alternatives": [{"exerciseId": e, "name": "Swap"} for e in self.rng.sample(others, 2)],
            "progression": progression,
        }

    def _exercise_add(self, session: Session) -> Body:
        body: Body = {
            "type": "exercise.add",
            "sessionId": str(session.id),
            "programExerciseId": self._new(),
            "exerciseId": self.rng.choice(self.catalog),
            "name": "Lift",
            "series": self._sets(self.rng.randint(0, 3)),
        }
        if session.groups and self.rng.random() < 0.3:
            body["groupId"] = str(self.rng.choice(session.groups).id)
        if self.rng.random() < 0.3:
            body["warmup"] = self._warmup()
        return body

    def _warmup(self) -> Body:
        """Up to four steps climbing by percent, with or without the empty bar."""
        rng = self.rng
        percents = sorted(rng.sample([30, 40, 50, 62.5, 70, 80, 87.5], rng.randint(1, 4)))
        warmup: Body = {"steps": [{"percent": p, "reps": rng.randint(1, 8)} for p in percents]}
        roll = rng.random()
        if roll < 0.5:
            warmup["minLoad"] = rng.choice(
                [{"value": 20, "unit": "kg"}, {"value": 45, "unit": "lb"}]
            )
        elif roll < 0.7:
            warmup["minLoad"] = None
        return warmup

    def _date(self) -> str:
        return (FIRST_DAY + timedelta(days=self.rng.randrange(730))).isoformat()

    def _exercise_remove(self, program: Program, at: Exercise) -> Body | None:
        if sum(1 for s in program.sessions for _ in s.exercises()) <= 3:
            return None
        return {"type": "exercise.remove", "programExerciseId": str(at[2].id)}

    def _exercise_move_to_group(self, program: Program, at: Exercise) -> Body:
        target = self.rng.choice([g for s in program.sessions for g in s.groups])
        body: Body = {
            "type": "exercise.move",
            "programExerciseId": str(at[2].id),
            "toGroupId": str(target.id),
        }
        if self.rng.random() < 0.5:
            body["position"] = self.rng.randint(0, len(target.exercises))
        return body

    def _exercise_move_to_new_group(self, program: Program, at: Exercise) -> Body:
        session = self.rng.choice(program.sessions)
        return {
            "type": "exercise.move",
            "programExerciseId": str(at[2].id),
            "toSessionId": str(session.id),
            "toNewGroupAt": self.rng.randint(0, len(session.groups)),
        }

    def _exercises_group(self, program: Program, at: Exercise) -> Body | None:
        session = at[0]
        members = [str(e.id) for e in session.exercises()]
        if len(members) < 2:
            return None
        return {
            "type": "exercises.group",
            "sessionId": str(session.id),
            "programExerciseIds": self.rng.sample(
                members, self.rng.randint(2, min(4, len(members)))
            ),
        }

    def _group_ungroup(self, program: Program, at: Exercise) -> Body:
        return {"type": "group.ungroup", "groupId": str(at[1].id)}

    def _groups_reorder(self, program: Program, at: Exercise) -> Body:
        order = [str(g.id) for g in at[0].groups]
        self.rng.shuffle(order)
        return {"type": "groups.reorder", "sessionId": str(at[0].id), "groupIds": order}

    def _group_update(self, program: Program, at: Exercise) -> Body:
        return {
            "type": "group.update",
            "groupId": str(at[1].id),
            "rounds": self.rng.choice([None, 2, 3, 5]),
            "notes": self.rng.choice([None, "slow eccentrics"]),
        }

    def _session_copy(self, program: Program, at: Exercise) -> Body | None:
        if len(program.sessions) >= 4:
            return None
        return {"type": "session.copy", "sessionId": str(at[0].id), "newSessionId": self._new()}

    def _session_remove(self, program: Program, at: Exercise) -> Body | None:
        if len(program.sessions) <= 1:
            return None
        return {"type": "session.remove", "sessionId": str(at[0].id)}

    def _batch(self, program: Program, at: Exercise) -> Body:
        exercise = str(at[2].id)
        edits: list[Body] = [
            {"type": "series.add", "programExerciseId": exercise, "set": {"reps": 3}},
            {
                "type": "series.update",
                "programExerciseId": exercise,
                "index": 0,
                "set": {"rir": 1},
            },
            {"type": "exercise.move", "programExerciseId": exercise, "toNewGroupAt": 0},
        ][: self.rng.randint(1, 3)]
        if self.rng.random() < 0.5:  # weeks, athletes and exercises too
            edits += self.rng.sample(
                [
                    {"type": "program.assign", "athlete": self._athlete()},
                    {
                        "type": "maxes.set",
                        "maxes": [
                            {
                                "exerciseId": self.rng.choice(self.catalog),
                                "value": 100,
                                "unit": "lb",
                            }
                        ],
                    },
                    {"type": "exercise.update", "programExerciseId": exercise, "notes": "Batch"},
                    {"type": "program.unassign"},
                    {"type": "week.insert", "at": 0},
                    {
                        "type": "series.progress",
                        "programExerciseId": exercise,
                        "toWeeks": [1],
                        "step": {"reps": 1},
                    },
                ],
                self.rng.randint(1, 3),
            )
        if self.rng.random() < 0.5:  # the calendar and warm-ups
            session = str(at[0].id)
            edits += self.rng.sample(
                [
                    {"type": "program.schedule", "startDate": self._date()},
                    {"type": "session.update", "sessionId": session, "dayOffset": 3},
                    {
                        "type": "session.reschedule",
                        "sessionId": session,
                        "week": program.weeks - 1,
                        "date": self.rng.choice([None, self._date()]),
                    },
                    {"type": "exercise.update", "programExerciseId": exercise, "warmup": None}
                    if at[2].warmup is not None
                    else {
                        "type": "exercise.update",
                        "programExerciseId": exercise,
                        "warmup": self._warmup(),
                    },
                ],
                self.rng.randint(1, 2),
            )
            self.rng.shuffle(edits)  # a date or warm-up set before or after what moves it
        return {"type": "batch", "operations": edits}

    def _program_republish(self, program: Program, at: Exercise) -> Body:
        return {"type": "program.republish"}

    def _program_update(self, program: Program, at: Exercise) -> Body:
        return {
            "type": "program.update",
            "name": "Renamed",
            "expectedVersion": self.rng.randint(program.version - 1, program.version),
        }

    def _series(self, kind: str, program: Program, at: Exercise, **fields: Any) -> Body:
        return {
            "type": kind,
            "programExerciseId": str(at[2].id),
            "week": self.rng.randrange(program.weeks),
            **fields,
        }

    def _series_replace(self, program: Program, at: Exercise) -> Body:
        series = [
            {**one, "restSeconds": self.rng.choice([60, 90, 120])}
            for one in self._sets(self.rng.randint(0, 4))
        ]
        return self._series("series.replace", program, at, series=series)

    def _series_add(self, program: Program, at: Exercise) -> Body:
        return self._series("series.add", program, at, set={"reps": self.rng.randint(1, 10)})

    def _series_update(self, program: Program, at: Exercise) -> Body:
        changes = {"rpe": 8, "rir": self.rng.randint(0, 4)}
        return self._series("series.update", program, at, index=self.rng.randint(0, 2), set=changes)

    def _series_remove(self, program: Program, at: Exercise) -> Body:
        return self._series("series.remove", program, at, index=self.rng.randint(0, 2))

    def _series_move(self, program: Program, at: Exercise) -> Body:
        moves = {"from": self.rng.randint(0, 2), "to": self.rng.randint(0, 2)}
        return self._series("series.move", program, at, **moves)

    # --- weeks, formats, copies, syncs, reverts and deletion

    def _week_copy(self, program: Program, at: Exercise) -> Body | None:
        if program.weeks < 2:
            return None
        source = self.rng.randrange(program.weeks)
        targets = [w for w in range(program.weeks) if w != source]
        body: Body = {
            "type": "week.copy",
            "fromWeek": source,
            "toWeeks": self.rng.sample(targets, self.rng.randint(1, len(targets))),
        }
        if self.rng.random() < 0.5:
            body["sessionId"] = str(at[0].id)
        return body

    def _week_insert(self, program: Program, at: Exercise) -> Body | None:
        if program.weeks >= 6:
            return None
        return {"type": "week.insert", "at": self.rng.randint(0, program.weeks)}

    def _week_remove(self, program: Program, at: Exercise) -> Body | None:
        if program.weeks <= 2:
            return None
        return {"type": "week.remove", "week": self.rng.randrange(program.weeks)}

    def _series_progress(self, program: Program, at: Exercise) -> Body | None:
        if program.weeks < 2:
            return None
        step = self.rng.choice([{"load": 2.5}, {"reps": 1}, {"rpe": 0.5, "load": 1}])
        return {
            "type": "series.progress",
            "programExerciseId": str(at[2].id),
            "toWeeks": list(range(1, program.weeks)),
            "step": step,
        }

    def _week_labels(self, program: Program, at: Exercise) -> Body:
        last = program.weeks - 1
        return {"type": "program.update", "weekLabels": [{"week": last, "label": "deload"}]}

    def _group_format(self, program: Program, at: Exercise) -> Body:
        return self.rng.choice(
            [
                {
                    "type": "group.update",
                    "groupId": str(at[1].id),
                    "format": "emom",
                    "intervalSeconds": 60,
                },
                {"type": "group.update", "groupId": str(at[1].id), "format": None},
            ]
        )

    def _program_copy(self, program: Program, at: Exercise) -> Body:
        body: Body = {"type": "program.copy", "newProgramId": self._new()}
        roll = self.rng.random()
        if roll < 0.4:
            body["athlete"] = self._athlete()
        elif roll < 0.6:
            body["athlete"] = None
        return body

    def _program_sync(self, program: Program, at: Exercise) -> Body | None:
        """A sync of a copy with its source (dry one time in three); rarely one of a program
        that is not a copy (`invariant_violated`, predicted)."""
        rng = self.rng
        if program.source is None:
            return {"type": "program.sync"} if rng.random() < 0.05 else None
        body: Body = {"type": "program.sync"}
        if rng.random() < 0.33:
            body["dryRun"] = True
        source = self.model.programs.get(program.source.program_id)
        if source is not None and rng.random() < 0.3:
            body["fromWeek"] = rng.randrange(source.weeks)
        if source is not None and source.sessions and rng.random() < 0.3:
            chosen = rng.sample(source.sessions, rng.randint(1, len(source.sessions)))
            body["override"] = [str(session.id) for session in chosen]
        elif source is not None and rng.random() < 0.6:
            # Take back sessions the copy removed (they come back as `new`).
            removed = [s.id for s in source.sessions if s.id in program.removed_origins]
            if removed:
                body["override"] = [str(session_id) for session_id in removed]
        return body

    def _program_revert(self, program: Program, at: Exercise | None) -> Body | None:
        """Back to one of the last versions (a few past the reach: `invariant_violated`)."""
        if program.version < 2:
            return None
        oldest = max(1, program.version - 100 - self.rng.choice([0, 0, 0, 0, 1]))
        newest = program.version - 1
        to_version = self.rng.choice([newest, self.rng.randint(oldest, newest)])
        synced = [v - 1 for v in self.sync_versions.get(program.id, ()) if v - 1 >= oldest]
        if synced and self.rng.random() < 0.6:
            to_version = synced[-1]  # the undo of the latest sync
        return {"type": "program.revert", "toVersion": to_version}

    def _program_delete(self, program: Program, at: Exercise) -> Body:
        return {"type": "program.delete"}

    # --- athletes and exercises

    def _program_assign(self, program: Program, at: Exercise) -> Body:
        return {"type": "program.assign", "athlete": self._athlete()}

    def _program_unassign(self, program: Program, at: Exercise) -> Body:
        return {"type": "program.unassign"}  # on a template: invariant_violated, predicted

    def _maxes_set(self, program: Program, at: Exercise) -> Body:
        chosen = self.rng.sample(self.catalog, self.rng.randint(1, 3))
        return {
            "type": "maxes.set",
            "maxes": [
                {"exerciseId": e, "value": self.rng.choice([80, 117.5, 150]), "unit": "kg"}
                if self.rng.random() < 0.8
                else {"exerciseId": e, "value": None}
                for e in chosen
            ],
        }

    def _exercise_update(self, program: Program, at: Exercise) -> Body:
        exercise = at[2]
        body: Body = {"type": "exercise.update", "programExerciseId": str(exercise.id)}
        roll = self.rng.random()
        if roll < 0.3:
            # A swap: sometimes to one of its alternatives (invariant_violated, predicted).
            body["exerciseId"] = self.rng.choice(self.catalog)
            body["name"] = "Swapped lift"
        elif roll < 0.55:
            body |= self._exercise_fields(str(exercise.exercise_id))
        elif roll < 0.8:
            body["warmup"] = self._warmup()
        elif roll < 0.9:
            body["warmup"] = None
        else:
            body |= {"notes": None, "alternatives": None, "progression": None, "warmup": None}
        return body

    # --- the calendar

    def _program_schedule(self, program: Program, at: Exercise) -> Body:
        start = None if self.rng.random() < 0.25 else self._date()
        return {"type": "program.schedule", "startDate": start}

    def _session_update(self, program: Program, at: Exercise) -> Body:
        body: Body = {"type": "session.update", "sessionId": str(at[0].id)}
        roll = self.rng.random()
        if roll < 0.5:
            body["dayOffset"] = self.rng.randint(0, 6)
        elif roll < 0.7:
            body["dayOffset"] = None
        if roll >= 0.3:
            body["name"] = self.rng.choice(["Heavy day", "Light day"])
        return body

    def _session_reschedule(self, program: Program, at: Exercise) -> Body:
        # Now and then a week past the program's end: invariant_violated, predicted.
        week = program.weeks if self.rng.random() < 0.1 else self.rng.randrange(program.weeks)
        day = None if self.rng.random() < 0.3 else self._date()
        return {"type": "session.reschedule", "sessionId": str(at[0].id), "week": week, "date": day}

    # --- refusing on purpose

    def _refused(self, body: Body, program: Program | None) -> Body:
        """`body` changed so that it breaks one rule (some changes happen to be harmless)."""
        rng = self.rng
        body = dict(body)
        referenced = [
            field
            for field in ("programExerciseId", "sessionId", "groupId", "toGroupId")
            if field in body and body["type"] not in CREATES.get(field, ())
        ]
        created = [field for field in CREATES if body["type"] in CREATES[field]]
        own = sorted(ids_of(program), key=str) if program is not None else []
        choices: list[Callable[[], None]] = [
            lambda: body.update(type="program.rename"),  # not a type of the contract
            lambda: body.update(position=99),
        ]
        if referenced:
            choices.append(lambda: body.update({rng.choice(referenced): self._new()}))
        if created and own:
            choices.append(lambda: body.update({rng.choice(created): str(rng.choice(own))}))
        if "set" in body:
            choices.append(lambda: body.update(set={"reps": -1}))
        if "series" in body:
            choices.append(lambda: body.update(series=[{"reps": 1}] * 51))
        if "athlete" in body:
            choices.append(lambda: body.update(athlete={"athleteId": ""}))
        if "maxes" in body:
            choices.append(lambda: body.update(maxes=[]))
        # A day that does not exist, a date past the calendar's end, a day of week 8, a
        # warm-up that goes down.
        if "startDate" in body:
            choices.append(lambda: body.update(startDate="2027-02-29"))
        if "date" in body:
            choices.append(lambda: body.update(date="2100-01-01"))
        if "dayOffset" in body:
            choices.append(lambda: body.update(dayOffset=7))
        if "warmup" in body:
            steps = [{"percent": 60, "reps": 3}, {"percent": 50, "reps": 3}]
            choices.append(lambda: body.update(warmup={"steps": steps}))
        if program is not None:
            choices.append(lambda: body.update(expectedVersion=program.version + 1))
        rng.choice(choices)()
        return body


CREATES: dict[str, tuple[str, ...]] = {
    "sessionId": ("session.add",),
    "programExerciseId": ("exercise.add",),
    "newSessionId": ("session.copy",),
    "groupId": ("exercises.group",),
    "newGroupId": ("exercise.move", "exercise.add"),
}
"""Which command types create the entity a field names (anywhere else the field refers to one)."""


def features_of(command: Body) -> Iterator[str]:
    """The features a command (or a batch operation) gives, named as in `FEATURES`:
    `"<type> <field>"`, `"<type> <field>=null"` when it clears, `"batch <type>"` per operation."""
    kind = command["type"]
    if kind == "batch":
        for operation in command["operations"]:
            yield f"batch {operation['type']}"
            yield from (f"batch {feature}" for feature in features_of(operation))
            yield from features_of(operation)
        return
    if kind == "program.import":
        snapshot = command["program"]
        if snapshot.get("startDate") is not None:
            yield "program.import startDate"
        for session in snapshot["sessions"]:
            for field in ("dayOffset", "rescheduled"):
                if session.get(field) is not None:
                    yield f"program.import {field}"
            for group in session.get("groups", ()):
                if any(exercise.get("warmup") for exercise in group["exercises"]):
                    yield "program.import warmup"
        return
    for field in _FEATURE_FIELDS.get(kind, ()):
        if field in command:
            yield f"{kind} {field}" + ("=null" if command[field] is None else "")


_FEATURE_FIELDS: dict[str, tuple[str, ...]] = {
    "program.sync": ("dryRun", "fromWeek", "override"),
    "program.schedule": ("startDate",),
    "session.add": ("dayOffset",),
    "session.update": ("name", "dayOffset"),
    "session.reschedule": ("date",),
    "exercise.add": ("warmup",),
    "exercise.update": ("warmup",),
}


def assert_everything_drawn(generators: Iterable[CommandGenerator]) -> None:
    """The streams of `generators` together applied every command type of the contract and
    every feature (`FEATURES`: fields and derived values): a long run is only as good as what it
    drew."""
    generators = list(generators)
    types = set().union(*(g.applied_types() for g in generators))
    assert types == COMMAND_TYPES, f"command types never applied: {sorted(COMMAND_TYPES - types)}"
    features = set().union(*(g.applied_features() for g in generators))
    missing = FEATURES - features
    assert not missing, f"features never applied: {sorted(missing)}"
