"""Model-based test: random sequences of every command through the domain core.

One time in four the program is a copy of a template that the run changes too, and
syncs the copy with it (dry or real, from any week, overriding any sessions); reverts go back
to any kept version. After each revert the program's content is exactly what it was at that
version.

After each step: orders are contiguous, no group is empty, every exercise has a week-0
prescription, limits hold, a rejected command changed nothing, and folding the events (latest
per key, as a consumer of the compacted topics would) reproduces the program exactly, including
what the events derive from it (resolved loads, warm-up sets, dates).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import TypeAdapter

from contracts.commands import Command
from contracts.events import GroupKind
from service.apply.wire import event_payload
from service.domain.commands import Applied, Context, apply
from service.domain.derived import date_of, loads_of
from service.domain.errors import Rejection
from service.domain.history import Undo
from service.domain.loads import resolution_of
from service.domain.model import Program, Session
from tests.support.domain import content
from tests.support.programs import load_on_the_wire

COMMANDS: TypeAdapter[Any] = TypeAdapter(Command)
NOW = datetime(2026, 11, 24, tzinfo=UTC)
TENANT = "coach"
# A small catalog, so that maxes, `of` and alternatives meet the program's exercises.
CATALOG = [UUID(f"00000000-0000-4000-8000-00000000000{n}") for n in range(1, 5)]

max_strategy = st.fixed_dictionaries(
    {
        "exerciseId": st.sampled_from(CATALOG),
        "value": st.sampled_from([60, 102.5, 140, 225, 315.5]),
        "unit": st.sampled_from(["kg", "lb"]),
    }
)
maxes_strategy = st.lists(max_strategy, max_size=4, unique_by=lambda m: m["exerciseId"])
athlete_strategy = st.fixed_dictionaries(
    {"athleteId": st.just("athlete-1"), "maxes": maxes_strategy},
    optional={
        "trainingMaxPercent": st.sampled_from([50, 87.5, 90, 100]),
        "rounding": st.fixed_dictionaries(
            {}, optional={"kg": st.sampled_from([1.25, 2.5]), "lb": st.sampled_from([2.5, 5])}
        ),
        "unit": st.sampled_from(["kg", "lb", None]),
    },
)

set_strategy = st.fixed_dictionaries(
    {"reps": st.integers(0, 20)},
    optional={
        "rpe": st.sampled_from([6, 7.5, 9]),
        "restSeconds": st.integers(0, 300),
        "perSide": st.booleans(),
        "load": st.fixed_dictionaries(
            {
                "value": st.sampled_from([0, 20, 102.5]),
                "unit": st.sampled_from(["kg", "lb", "percent1rm", "bodyweight"]),
            }
        )
        | st.fixed_dictionaries(
            {
                "value": st.sampled_from([65, 77.5, 93.75]),
                "unit": st.just("percent1rm"),
                "of": st.sampled_from(CATALOG),
            }
        ),
    },
)
# Sets prescribed by effort alone, on the chart (reps 1..12, rpe 6.5..10 or rir 0..3) or
# just off it; a `warmup` set is skipped when looking for the warm-ups' reference.
effort_set_strategy = st.fixed_dictionaries(
    {"reps": st.integers(1, 13)},
    optional={
        "rpe": st.sampled_from([6, 6.5, 8, 9.5, 10]),
        "rir": st.integers(0, 4),
        "setType": st.sampled_from(["warmup", "working", "amrap"]),
    },
)
series_strategy = st.lists(set_strategy | effort_set_strategy, max_size=4)
# A series whose first set has a weight (a warm-up's reference, unless it is a warm-up set).
weighed_series_strategy = st.builds(
    lambda first, rest: [first, *rest],
    st.fixed_dictionaries(
        {
            "reps": st.integers(1, 12),
            "load": st.fixed_dictionaries(
                {"value": st.sampled_from([30, 100, 142.5]), "unit": st.sampled_from(["kg", "lb"])}
            ),
        },
        optional={"setType": st.sampled_from(["warmup", "working"])},
    )
    | effort_set_strategy,
    series_strategy,
)

warmup_strategy = st.fixed_dictionaries(
    {
        "steps": st.lists(
            st.tuples(st.sampled_from([20, 40, 50, 62.5, 75, 80, 97.5]), st.integers(1, 20)),
            min_size=1,
            max_size=4,
            unique_by=lambda step: step[0],
        ).map(lambda steps: [{"percent": p, "reps": r} for p, r in sorted(steps)])
    },
    optional={
        "minLoad": st.none()
        | st.fixed_dictionaries(
            {"value": st.sampled_from([0, 20, 45, 60]), "unit": st.sampled_from(["kg", "lb"])}
        )
    },
)
# The calendar's edges (a late start runs past 2099: derived dates are not bounded) and a
# stretch of ordinary days.
date_strategy = st.sampled_from([date(2000, 1, 1), date(2099, 12, 31)]) | st.dates(
    date(2026, 11, 1), date(2027, 3, 1)
)
KEEP = "keep"  # a field left out of the command


class ProgramMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.program_id = uuid.uuid4()
        self.program: Program | None = None
        self.ever: set[UUID] = set()  # ids ever created (for `id_taken`)
        self.prescription_events: dict[str, dict[str, Any]] = {}
        self.session_events: dict[str, dict[str, Any]] = {}
        self.program_event: dict[str, Any] | None = None
        self.applied = self.rejected = 0
        self.applied_kinds: set[str] = set()
        # The template the program may be a copy of, the program's undos, and its content
        # at each version (what a revert must bring back).
        self.template: Program | None = None
        self.history: dict[int, Undo] = {}
        self.contents: dict[int, Any] = {}
        self.dry_runs = 0

    def context(self) -> Context:
        return Context(
            NOW,
            self.ever.__contains__,
            lambda program_id: self.template if program_id == self.template_id else None,
            lambda program_id: self.history.values(),
        )

    @property
    def template_id(self) -> UUID | None:
        return None if self.template is None else self.template.id

    # --- driving

    def send(self, kind: str, **fields: Any) -> None:
        document = {
            "commandId": str(uuid.uuid4()),
            "type": kind,
            "tenantId": TENANT,
            "programId": str(self.program_id),
            **fields,
        }
        command = COMMANDS.validate_json(json.dumps(document, default=str))
        before = self.fingerprint()
        try:
            applied = apply(self.program, command, self.context())
        except Rejection:
            self.rejected += 1
            assert self.fingerprint() == before, f"{kind} was rejected but changed the program"
            return
        self.applied += 1
        self.applied_kinds.add(kind)
        if applied.dry_run:
            self.dry_runs += 1
            assert applied.events == [] and self.fingerprint() == before, "a dry run changed"
            return
        self.follow(applied)
        if kind == "program.revert":
            assert self.contents[applied.program.version] == self.contents[fields["toVersion"]]
        if kind == "program.sync":
            self.assert_nothing_left_to_sync(fields["fromWeek"])

    def assert_nothing_left_to_sync(self, from_week: int) -> None:
        """Right after a sync, a preview of the same sync (without override) finds nothing to
        take: every session is `unchanged`, or `custom` where the copy's changes are kept."""
        document = {
            "commandId": str(uuid.uuid4()),
            "type": "program.sync",
            "tenantId": TENANT,
            "programId": str(self.program_id),
            "dryRun": True,
            "fromWeek": from_week,
        }
        command = COMMANDS.validate_json(json.dumps(document))
        preview = apply(self.program, command, self.context())
        assert preview.report is not None
        states = {session["state"] for session in preview.report["sessions"]}
        assert states <= {"unchanged", "custom"}, preview.report

    def follow(self, applied: Applied) -> None:
        """Keep the program, its undo and content, and the latest event of each key."""
        self.program = applied.program
        if applied.undo is not None:
            self.history[applied.undo.version] = applied.undo
        self.contents[self.program.version] = content(self.program)
        for event in applied.events:
            payload = event_payload(event)
            if payload["type"] == "prescription.updated":
                self.prescription_events[payload["prescriptionId"]] = payload
            elif payload["type"] == "program.updated":
                self.program_event = payload
            else:
                self.session_events[payload["sessionId"]] = payload
        for session in self.program.sessions:
            self.ever.add(session.id)
            for group in session.groups:
                self.ever.add(group.id)
                self.ever.update(exercise.id for exercise in group.exercises)

    def fingerprint(self) -> Any:
        if self.program is None:
            return None
        return (
            repr(self.program.sessions),
            repr(self.program.prescriptions),
            self.program.version,
            self.program.weeks,
            repr(self.program.week_labels),
            repr(self.program.athlete),
            self.program.start_date,
        )

    def sessions(self) -> list[UUID]:
        return [s.id for s in self.program.sessions] if self.program else []

    def groups(self) -> list[UUID]:
        if not self.program:
            return []
        return [g.id for s in self.program.sessions for g in s.groups]

    def exercises(self) -> list[UUID]:
        if not self.program:
            return []
        return [e.id for s in self.program.sessions for g in s.groups for e in g.exercises]

    def pick(self, data: st.DataObject, existing: list[UUID]) -> UUID:
        """Mostly an existing id, sometimes an unknown one (to exercise not_found)."""
        if existing and data.draw(st.integers(0, 9)) > 0:
            return data.draw(st.sampled_from(existing))
        return uuid.uuid4()

    @initialize(data=st.data(), how=st.sampled_from(["create", "import", "import", "copy"]))
    def create(self, data: st.DataObject | None = None, how: str = "create") -> None:
        """An empty program, or (calendar, warm-ups and all) an imported one with exercises on the
        calendar and an athlete: the rules then work on prescriptions from the first step; or
        a copy of such a program, its template (the sync rules then have work). Called bare, as
        the guard below does: an empty program."""
        if how == "create" or data is None:
            self.send("program.create", name="Block", weeks=3)
            return
        snapshot = self.drawn_snapshot(data)
        if how == "import":
            self.send("program.import", program=snapshot)
            return
        self.template = self.command_on_template("program.import", program=snapshot).program
        copied = self.command_on_template("program.copy", newProgramId=self.program_id)
        self.applied_kinds.add("program.copy")
        self.follow(copied)

    def command_on_template(self, kind: str, **fields: Any) -> Applied:
        """A command on the template (or making it): applied, or raises its rejection."""
        template_id = self.template_id or uuid.uuid4()
        document = {
            "commandId": str(uuid.uuid4()),
            "type": kind,
            "tenantId": TENANT,
            "programId": str(template_id),
            **fields,
        }
        command = COMMANDS.validate_json(json.dumps(document, default=str))
        applied = apply(self.template, command, Context(NOW, self.ever.__contains__))
        made = applied.program
        if made.id == template_id:
            self.template = made
        for session in made.sessions:
            self.ever.add(session.id)
            for group in session.groups:
                self.ever.add(group.id)
                self.ever.update(exercise.id for exercise in group.exercises)
        return applied

    def drawn_snapshot(self, data: st.DataObject) -> dict[str, Any]:
        weeks = data.draw(st.integers(1, 4))
        sessions: list[dict[str, Any]] = []
        for _ in range(data.draw(st.integers(1, 3))):
            groups = [
                {"groupId": uuid.uuid4(), "exercises": self.drawn_exercises(data, weeks)}
                for _ in range(data.draw(st.integers(1, 2)))
            ]
            moved = data.draw(st.dictionaries(st.integers(0, weeks - 1), date_strategy, max_size=2))
            sessions.append(
                {
                    "sessionId": uuid.uuid4(),
                    "name": "Day",
                    "groups": groups,
                    "dayOffset": data.draw(st.none() | st.integers(0, 6)),
                    "rescheduled": [{"week": w, "date": d} for w, d in sorted(moved.items())],
                }
            )
        return {
            "name": "Imported",
            "weeks": weeks,
            "sessions": sessions,
            "startDate": data.draw(st.none() | date_strategy),
            "athlete": data.draw(st.none() | athlete_strategy),
        }

    def drawn_exercises(self, data: st.DataObject, weeks: int) -> list[dict[str, Any]]:
        exercises: list[dict[str, Any]] = []
        for _ in range(data.draw(st.integers(1, 3))):
            written = {0} | data.draw(st.sets(st.integers(0, weeks - 1), max_size=weeks))
            exercises.append(
                {
                    "programExerciseId": uuid.uuid4(),
                    "exerciseId": data.draw(st.sampled_from(CATALOG)),
                    "name": "Lift",
                    "prescriptions": [
                        {"week": w, "series": data.draw(weighed_series_strategy)}
                        for w in sorted(written)
                    ],
                    "warmup": data.draw(st.none() | warmup_strategy),
                }
            )
        return exercises

    # --- rules: one per command type

    @rule(
        data=st.data(),
        position=st.none() | st.integers(0, 3),
        day_offset=st.just(KEEP) | st.none() | st.integers(0, 6),
    )
    def session_add(self, data: st.DataObject, position: int | None, day_offset: Any) -> None:
        fields: dict[str, Any] = {"sessionId": uuid.uuid4(), "name": "Day"}
        if position is not None:
            fields["position"] = position
        if day_offset != KEEP:
            fields["dayOffset"] = day_offset
        self.send("session.add", **fields)

    @rule(data=st.data())
    def session_remove(self, data: st.DataObject) -> None:
        self.send("session.remove", sessionId=self.pick(data, self.sessions()))

    @rule(
        data=st.data(),
        series=series_strategy,
        into_group=st.booleans(),
        warmup=st.none() | warmup_strategy,
    )
    def exercise_add(
        self,
        data: st.DataObject,
        series: list[Any],
        into_group: bool,
        warmup: dict[str, Any] | None,
    ) -> None:
        fields: dict[str, Any] = {
            "sessionId": self.pick(data, self.sessions()),
            "programExerciseId": uuid.uuid4(),
            "exerciseId": data.draw(st.sampled_from(CATALOG)),
            "name": "Lift",
            "series": series,
        }
        if into_group and self.program is not None:
            session = next((s for s in self.program.sessions if s.id == fields["sessionId"]), None)
            if session and session.groups:
                fields["groupId"] = data.draw(st.sampled_from([g.id for g in session.groups]))
        if warmup is not None:
            fields["warmup"] = warmup
        self.send("exercise.add", **fields)

    @rule(data=st.data())
    def exercise_remove(self, data: st.DataObject) -> None:
        self.send("exercise.remove", programExerciseId=self.pick(data, self.exercises()))

    @rule(data=st.data(), how=st.sampled_from(["group", "new", "other-session"]))
    def exercise_move(self, data: st.DataObject, how: str) -> None:
        exercise = self.pick(data, self.exercises())
        if how == "group":
            self.send(
                "exercise.move",
                programExerciseId=exercise,
                toGroupId=self.pick(data, self.groups()),
                position=data.draw(st.integers(0, 3)),
            )
        else:
            fields: dict[str, Any] = {"toNewGroupAt": data.draw(st.integers(0, 3))}
            if how == "other-session":
                fields["toSessionId"] = self.pick(data, self.sessions())
            self.send("exercise.move", programExerciseId=exercise, **fields)

    @rule(data=st.data())
    def exercises_group(self, data: st.DataObject) -> None:
        if self.program is None or not self.program.sessions:
            return
        session = data.draw(st.sampled_from(self.program.sessions))
        members = [e.id for g in session.groups for e in g.exercises]
        if len(members) < 2:
            return
        chosen = data.draw(st.lists(st.sampled_from(members), min_size=2, max_size=4, unique=True))
        self.send("exercises.group", sessionId=session.id, programExerciseIds=chosen)

    @rule(data=st.data())
    def group_ungroup(self, data: st.DataObject) -> None:
        self.send("group.ungroup", groupId=self.pick(data, self.groups()))

    @rule(data=st.data())
    def groups_reorder(self, data: st.DataObject) -> None:
        if self.program is None or not self.program.sessions:
            return
        session = data.draw(st.sampled_from(self.program.sessions))
        order = data.draw(st.permutations([g.id for g in session.groups]))
        if order:
            self.send("groups.reorder", sessionId=session.id, groupIds=order)

    @rule(
        data=st.data(),
        rounds=st.none() | st.integers(1, 5),
        timing=st.none()
        | st.sampled_from(
            [
                {"format": "emom", "intervalSeconds": 60},
                {"format": "amrap", "timeCapSeconds": 600},
                {"format": None, "timeCapSeconds": None},
            ]
        ),
    )
    def group_update(
        self, data: st.DataObject, rounds: int | None, timing: dict[str, Any] | None
    ) -> None:
        self.send(
            "group.update", groupId=self.pick(data, self.groups()), rounds=rounds, **(timing or {})
        )

    @rule(data=st.data())
    def session_copy(self, data: st.DataObject) -> None:
        self.send(
            "session.copy", sessionId=self.pick(data, self.sessions()), newSessionId=uuid.uuid4()
        )

    @rule(data=st.data(), week=st.integers(0, 3), series=series_strategy)
    def series_replace(self, data: st.DataObject, week: int, series: list[Any]) -> None:
        exercise = self.pick(data, self.exercises())
        self.send("series.replace", programExerciseId=exercise, week=week, series=series)

    @rule(data=st.data(), new_set=set_strategy | effort_set_strategy)
    def series_add(self, data: st.DataObject, new_set: dict[str, Any]) -> None:
        self.send("series.add", programExerciseId=self.pick(data, self.exercises()), set=new_set)

    @rule(data=st.data(), index=st.integers(0, 4), rpe=st.sampled_from([7, 8.5, 10]))
    def series_update(self, data: st.DataObject, index: int, rpe: float) -> None:
        exercise = self.pick(data, self.exercises())
        self.send("series.update", programExerciseId=exercise, index=index, set={"rpe": rpe})

    @rule(data=st.data(), index=st.integers(0, 4))
    def series_remove(self, data: st.DataObject, index: int) -> None:
        exercise = self.pick(data, self.exercises())
        self.send("series.remove", programExerciseId=exercise, index=index)

    @rule(data=st.data(), source=st.integers(0, 4), to=st.integers(0, 4))
    def series_move(self, data: st.DataObject, source: int, to: int) -> None:
        exercise = self.pick(data, self.exercises())
        self.send("series.move", programExerciseId=exercise, **{"from": source, "to": to})

    @rule(
        weeks=st.integers(1, 5),
        labels=st.none()
        | st.dictionaries(st.integers(0, 5), st.sampled_from(["deload", "test"]), max_size=3),
    )
    def program_update(self, weeks: int, labels: dict[int, str] | None) -> None:
        fields: dict[str, Any] = {"weeks": weeks}
        if labels is not None:
            fields["weekLabels"] = [{"week": w, "label": label} for w, label in labels.items()]
        self.send("program.update", **fields)

    @rule(
        data=st.data(),
        source=st.integers(0, 4),
        weeks=st.sets(st.integers(0, 5), min_size=1, max_size=3),
        whole=st.booleans(),
    )
    def week_copy(self, data: st.DataObject, source: int, weeks: set[int], whole: bool) -> None:
        weeks.discard(source)
        if not weeks:
            return
        fields: dict[str, Any] = {"fromWeek": source, "toWeeks": sorted(weeks)}
        if not whole:
            fields["sessionId"] = self.pick(data, self.sessions())
        self.send("week.copy", **fields)

    @rule(at=st.integers(0, 6), count=st.integers(1, 3))
    def week_insert(self, at: int, count: int) -> None:
        self.send("week.insert", at=at, count=count)

    @rule(week=st.integers(0, 5))
    def week_remove(self, week: int) -> None:
        self.send("week.remove", week=week)

    @rule(
        data=st.data(),
        source=st.integers(0, 2),
        ahead=st.sets(st.integers(1, 3), min_size=1, max_size=3),
        load=st.none() | st.sampled_from([2.5, -5.0]),
        reps=st.none() | st.integers(-2, 1),
        rpe=st.none() | st.sampled_from([0.5, -1.0]),
    )
    def series_progress(
        self,
        data: st.DataObject,
        source: int,
        ahead: set[int],
        load: float | None,
        reps: int | None,
        rpe: float | None,
    ) -> None:
        step = {k: v for k, v in {"load": load, "reps": reps, "rpe": rpe}.items() if v is not None}
        if not step:
            step = {"rir": 1}
        self.send(
            "series.progress",
            programExerciseId=self.pick(data, self.exercises()),
            fromWeek=source,
            toWeeks=sorted(source + n for n in ahead),
            step=step,
        )

    @rule(data=st.data())
    def batch(self, data: st.DataObject) -> None:
        session = uuid.uuid4()
        operations: list[dict[str, Any]] = [
            {"type": "session.add", "sessionId": str(session), "name": "Batch day"},
            {
                "type": "exercise.add",
                "sessionId": str(session),
                "programExerciseId": str(uuid.uuid4()),
                "exerciseId": str(uuid.uuid4()),
                "name": "Batch lift",
            },
        ]
        if data.draw(st.booleans()):  # a failing last operation: nothing may apply
            operations.append({"type": "session.remove", "sessionId": str(uuid.uuid4())})
        self.send("batch", operations=operations)

    @rule(data=st.data(), size=st.integers(2, 4))
    def week_batch(self, data: st.DataObject, size: int) -> None:
        """Week operations after each other in one command: later ones see earlier moves."""
        operations: list[dict[str, Any]] = []
        for _ in range(size):
            kind = data.draw(st.sampled_from(["insert", "remove", "copy", "progress", "replace"]))
            week = data.draw(st.integers(0, 4))
            if kind == "insert":
                operations.append({"type": "week.insert", "at": week})
            elif kind == "remove":
                operations.append({"type": "week.remove", "week": week})
            elif kind == "copy":
                operations.append({"type": "week.copy", "fromWeek": week, "toWeeks": [week + 1]})
            else:
                exercise = str(self.pick(data, self.exercises()))
                if kind == "progress":
                    operations.append(
                        {
                            "type": "series.progress",
                            "programExerciseId": exercise,
                            "toWeeks": [1, 2],
                            "step": {"load": 2.5},
                        }
                    )
                else:
                    operations.append(
                        {
                            "type": "series.replace",
                            "programExerciseId": exercise,
                            "week": week,
                            "series": [{"reps": 3}],
                        }
                    )
        self.send("batch", operations=operations)

    @rule(athlete=athlete_strategy)
    def program_assign(self, athlete: dict[str, Any]) -> None:
        self.send("program.assign", athlete=athlete)

    @rule()
    def program_unassign(self) -> None:
        self.send("program.unassign")

    @rule(
        changes=st.lists(
            max_strategy
            | st.builds(lambda e: {"exerciseId": e, "value": None}, st.sampled_from(CATALOG)),
            min_size=1,
            max_size=3,
            unique_by=lambda m: m["exerciseId"],
        )
    )
    def maxes_set(self, changes: list[dict[str, Any]]) -> None:
        self.send("maxes.set", maxes=changes)

    @rule(
        data=st.data(),
        exercise_id=st.none() | st.sampled_from(CATALOG),
        alternatives=st.none() | st.lists(st.sampled_from(CATALOG), max_size=2, unique=True),
        notes=st.none() | st.just("Brace"),
        warmup=st.just(KEEP) | st.none() | warmup_strategy,
    )
    def exercise_update(
        self,
        data: st.DataObject,
        exercise_id: UUID | None,
        alternatives: list[UUID] | None,
        notes: str | None,
        warmup: Any = KEEP,
    ) -> None:
        fields: dict[str, Any] = {"programExerciseId": self.pick(data, self.exercises())}
        if exercise_id is not None:
            fields["exerciseId"] = exercise_id
        if alternatives is not None:
            if exercise_id in alternatives:
                alternatives.remove(exercise_id)
            fields["alternatives"] = [{"exerciseId": a, "name": "Alt"} for a in alternatives]
        fields["notes"] = notes
        if warmup != KEEP:
            fields["warmup"] = warmup
        self.send("exercise.update", **fields)

    @rule()
    def republish(self) -> None:
        self.send("program.republish")

    # --- the calendar, warm-ups (above: also exercise.add, exercise.update)

    @rule(data=st.data(), warmup=st.none() | warmup_strategy)
    def exercise_warmup(self, data: st.DataObject, warmup: dict[str, Any] | None) -> None:
        """Only the warm-up changes: the events of the exercise's prescriptions whose warm-up
        sets moved must follow, with nothing else to announce them."""
        self.send(
            "exercise.update", programExerciseId=self.pick(data, self.exercises()), warmup=warmup
        )

    @rule(start=st.none() | date_strategy)
    def program_schedule(self, start: date | None) -> None:
        self.send("program.schedule", startDate=start)

    @rule(
        data=st.data(),
        name=st.just(KEEP) | st.just("Heavy day"),
        day_offset=st.just(KEEP) | st.none() | st.integers(0, 6),
    )
    def session_update(self, data: st.DataObject, name: str, day_offset: Any) -> None:
        fields: dict[str, Any] = {"sessionId": self.pick(data, self.sessions())}
        if name != KEEP:
            fields["name"] = name
        if day_offset != KEEP:
            fields["dayOffset"] = day_offset
        if len(fields) == 1:
            fields["dayOffset"] = None
        self.send("session.update", **fields)

    @rule(data=st.data(), week=st.integers(0, 5), day=st.none() | date_strategy)
    def session_reschedule(self, data: st.DataObject, week: int, day: date | None) -> None:
        """A week past the program's end is invariant_violated."""
        session = self.pick(data, self.sessions())
        self.send("session.reschedule", sessionId=session, week=week, date=day)

    @rule(data=st.data(), size=st.integers(2, 4))
    def calendar_batch(self, data: st.DataObject, size: int) -> None:
        """The calendar and warm-ups moved with weeks, sets and athletes in one command: later
        operations see earlier ones, and the events carry the state after the last."""
        operations: list[dict[str, Any]] = []
        for _ in range(size):
            kind = data.draw(
                st.sampled_from(
                    [
                        "program.schedule",
                        "session.update",
                        "session.reschedule",
                        "exercise.update",
                        "series.replace",
                        "week.insert",
                        "week.remove",
                        "program.assign",
                    ]
                )
            )
            session = str(self.pick(data, self.sessions()))
            exercise = str(self.pick(data, self.exercises()))
            week = data.draw(st.integers(0, 3))
            if kind == "program.schedule":
                start = data.draw(st.none() | date_strategy)
                operations.append({"type": kind, "startDate": start})
            elif kind == "session.update":
                day_offset = data.draw(st.none() | st.integers(0, 6))
                operations.append({"type": kind, "sessionId": session, "dayOffset": day_offset})
            elif kind == "session.reschedule":
                day = data.draw(st.none() | date_strategy)
                operations.append({"type": kind, "sessionId": session, "week": week, "date": day})
            elif kind == "exercise.update":
                warmup = data.draw(st.none() | warmup_strategy)
                operations.append({"type": kind, "programExerciseId": exercise, "warmup": warmup})
            elif kind == "series.replace":
                series = data.draw(st.lists(effort_set_strategy, min_size=1, max_size=3))
                operations.append(
                    {"type": kind, "programExerciseId": exercise, "week": week, "series": series}
                )
            elif kind == "week.insert":
                operations.append({"type": kind, "at": week})
            elif kind == "week.remove":
                operations.append({"type": kind, "week": week})
            else:
                operations.append({"type": kind, "athlete": data.draw(athlete_strategy)})
        self.send("batch", operations=operations)

    # --- the template changes, syncs and reverts

    @rule(data=st.data(), kind=st.sampled_from(["series", "add", "remove", "exercise", "rename"]))
    def template_changes(self, data: st.DataObject, kind: str) -> None:
        template = self.template
        if template is None:
            return
        sessions = [s.id for s in template.sessions]
        exercises = [e.id for s in template.sessions for e in s.exercises()]
        try:
            if kind == "series" and exercises:
                self.command_on_template(
                    "series.replace",
                    programExerciseId=data.draw(st.sampled_from(exercises)),
                    week=data.draw(st.integers(0, template.weeks - 1)),
                    series=data.draw(series_strategy),
                )
            elif kind == "add":
                self.command_on_template("session.add", sessionId=uuid.uuid4(), name="New")
            elif kind == "remove" and sessions:
                self.command_on_template(
                    "session.remove", sessionId=data.draw(st.sampled_from(sessions))
                )
            elif kind == "exercise" and sessions:
                self.command_on_template(
                    "exercise.add",
                    sessionId=data.draw(st.sampled_from(sessions)),
                    programExerciseId=uuid.uuid4(),
                    exerciseId=data.draw(st.sampled_from(CATALOG)),
                    name="Added",
                    series=data.draw(series_strategy),
                )
            elif kind == "rename" and sessions:
                self.command_on_template(
                    "session.update", sessionId=data.draw(st.sampled_from(sessions)), name="Renamed"
                )
        except Rejection:
            pass  # a limit of the template's: nothing to sync from this step

    def sync(self, data: st.DataObject, *, dry_run: bool) -> None:
        template = self.template
        if template is None:
            self.send("program.sync", dryRun=dry_run)  # not a copy: invariant_violated
            return
        sessions = [s.id for s in template.sessions]
        override = data.draw(st.lists(st.sampled_from(sessions), unique=True)) if sessions else []
        from_week = data.draw(st.integers(0, template.weeks - 1) | st.integers(0, 5))
        self.send("program.sync", dryRun=dry_run, fromWeek=from_week, override=override)

    @rule(data=st.data())
    def program_sync(self, data: st.DataObject) -> None:
        self.sync(data, dry_run=False)

    @rule(data=st.data())
    def program_sync_preview(self, data: st.DataObject) -> None:
        self.sync(data, dry_run=True)

    @rule(data=st.data())
    def program_revert(self, data: st.DataObject) -> None:
        assert self.program is not None
        version = self.program.version
        self.send(
            "program.revert", toVersion=data.draw(st.integers(max(1, version - 101), version))
        )

    # --- invariants

    @invariant()
    def structure_holds(self) -> None:
        program = self.program
        assert program is not None
        assert len(program.sessions) <= 50
        for session in program.sessions:
            assert len(session.groups) <= 60
            for group in session.groups:
                assert 1 <= len(group.exercises) <= 12, "no empty group, none over 12"
                for exercise in group.exercises:
                    by_week = program.prescriptions_of(exercise.id)
                    assert 0 in by_week, "every exercise has a week-0 prescription"
                    for week, prescription in by_week.items():
                        assert 0 <= week < program.weeks, "no prescription outside the weeks"
                        assert prescription.week == week
                        assert len(prescription.series) <= 50
                        orders = [s["orderIndex"] for s in prescription.series]
                        assert orders == list(range(len(orders)))

    @invariant()
    def latest_events_reconstruct_the_program(self) -> None:
        program = self.program
        assert program is not None
        live: set[str] = set()
        for index, session in enumerate(program.sessions):
            event = self.session_events[str(session.id)]
            assert not event["deleted"] and event["orderIndex"] == index
            assert [
                (
                    g["groupId"],
                    g["kind"],
                    g["format"],
                    g["timeCapSeconds"],
                    [e["programExerciseId"] for e in g["exercises"]],
                )
                for g in event["groups"]
            ] == [
                (
                    str(g.id),
                    GroupKind.of_size(len(g.exercises)).value,
                    g.settings.format.value,
                    g.settings.time_cap_seconds,
                    [str(e.id) for e in g.exercises],
                )
                for g in session.groups
            ]
            placements = program.placements(session)
            for group in session.groups:
                for exercise in group.exercises:
                    placement = placements[exercise.id]
                    for prescription in program.prescriptions_of(exercise.id).values():
                        key = str(prescription.id)
                        live.add(key)
                        latest = self.prescription_events[key]
                        assert not latest["deleted"]
                        assert latest["version"] == prescription.version
                        published = [dict(item) for item in latest["series"]]
                        for item in published:
                            del item["resolvedLoad"]  # see latest_events_carry_the_derived_state
                        assert published == list(prescription.series)
                        assert latest["exerciseId"] == str(exercise.exercise_id)
                        assert latest["group"] == {
                            "groupId": str(placement.group_id),
                            "kind": placement.kind.value,
                            "orderIndex": placement.order_index,
                            "orderWithinGroup": placement.order_within_group,
                            "size": placement.size,
                        }
        for key, event in self.prescription_events.items():
            if key not in live:
                assert event["deleted"], "a prescription that is gone was announced deleted"
        live_sessions = {str(s.id) for s in program.sessions}
        for key, event in self.session_events.items():
            if key not in live_sessions:
                assert event["deleted"]
        assert self.program_event is not None
        assert self.program_event["name"] == program.name
        assert self.program_event["weeks"] == program.weeks
        assert self.program_event["sessionIds"] == [str(s.id) for s in program.sessions]
        assert self.program_event["weekLabels"] == [
            {"week": w, "label": label} for w, label in sorted(program.week_labels.items())
        ]
        assert all(w < program.weeks for w in program.week_labels)
        assert self.program_event["athlete"] == (
            None if program.athlete is None else program.athlete.to_wire()
        )
        for session in program.sessions:
            published = {
                e["programExerciseId"]: e
                for g in self.session_events[str(session.id)]["groups"]
                for e in g["exercises"]
            }
            for exercise in session.exercises():
                event = published[str(exercise.id)]
                assert event["exerciseId"] == str(exercise.exercise_id)
                assert event["notes"] == exercise.notes
                assert event["alternatives"] == [a.to_wire() for a in exercise.alternatives]

    @invariant()
    def latest_events_carry_the_derived_state(self) -> None:
        """The contract's promise (CONTRACT.md § "Warm-up sets", end): the latest event of each
        key is its current state, derived fields included, whichever command changed what
        they derive from. Per live prescription: each set's `resolvedLoad` (a `percent1rm`
        load, or reps and effort), its `warmupSets` and its `scheduledDate`; per live
        session: its `dayOffset`, `rescheduled` and each exercise's `warmup`; the program's
        `startDate`."""
        program = self.program
        assert program is not None
        resolution = resolution_of(program.athlete)
        for session in program.sessions:
            for exercise in session.exercises():
                for week, prescription in program.prescriptions_of(exercise.id).items():
                    latest = self.prescription_events[str(prescription.id)]
                    resolved, warmups = loads_of(resolution, exercise, prescription.series)
                    day = date_of(program, session, week)
                    assert {
                        "resolvedLoad": [item["resolvedLoad"] for item in latest["series"]],
                        "warmupSets": latest["warmupSets"],
                        "scheduledDate": latest["scheduledDate"],
                    } == {
                        "resolvedLoad": [load_on_the_wire(load) for load in resolved],
                        "warmupSets": [
                            {"reps": w.reps, "load": load_on_the_wire(w.load)} for w in warmups
                        ],
                        "scheduledDate": None if day is None else day.isoformat(),
                    }, f"prescription {exercise.id} week {week}: latest event is stale"
            event = self.session_events[str(session.id)]
            assert (event["dayOffset"], event["rescheduled"]) == calendar_of(session)
            origin = None if session.origin is None else str(session.origin)
            assert (event["sourceSessionId"], event["customised"]) == (origin, session.customised)
            assert {
                e["programExerciseId"]: e["warmup"] for g in event["groups"] for e in g["exercises"]
            } == {
                str(e.id): None if e.warmup is None else e.warmup.to_wire()
                for e in session.exercises()
            }
        assert self.program_event is not None
        start = program.start_date
        assert self.program_event["startDate"] == (None if start is None else start.isoformat())


def calendar_of(session: Session) -> tuple[int | None, list[dict[str, Any]]]:
    """A session's `dayOffset` and `rescheduled` as `session.updated` carries them."""
    return session.day_offset, [
        {"week": week, "date": day.isoformat()} for week, day in sorted(session.rescheduled.items())
    ]


ProgramMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestProgramMachine = ProgramMachine.TestCase


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_the_machine_mostly_applies_commands() -> None:
    """Guard against a vacuous run: every kind of command applies sometimes."""
    import random

    machine = ProgramMachine()
    machine.create()
    rng = random.Random(7)

    class Data:
        def draw(self, strategy: Any) -> Any:
            return strategy.example()

    data: Any = Data()
    warmup = {"steps": [{"percent": 50, "reps": 5}, {"percent": 80, "reps": 2}]}
    for _ in range(400):
        choice = rng.randrange(17)
        if choice == 0:
            machine.session_add(data, None, rng.choice([KEEP, None, 3]))
        elif choice == 1:
            series = [{"reps": 5, "load": {"value": 60, "unit": "kg"}}, {"reps": 3, "rpe": 8}]
            machine.exercise_add(data, series, False, rng.choice([None, warmup]))
        elif choice == 2:
            machine.exercise_move(data, rng.choice(["group", "new", "other-session"]))
        elif choice == 3:
            machine.series_update(data, 0, 8.5)
        elif choice == 4:
            machine.week_copy(data, 0, {rng.randrange(1, 4)}, rng.random() < 0.5)
        elif choice == 5:
            machine.week_insert(rng.randrange(0, 3), 1)
        elif choice == 6:
            machine.week_remove(rng.randrange(0, 4))
        elif choice == 7:
            machine.series_progress(data, 0, {1, 2}, 2.5, 1, None)
        elif choice == 8:
            machine.program_assign(
                {
                    "athleteId": "a",
                    "maxes": [{"exerciseId": str(CATALOG[0]), "value": 100, "unit": "kg"}],
                }
            )
        elif choice == 9:
            machine.maxes_set(
                [{"exerciseId": str(rng.choice(CATALOG)), "value": 120, "unit": "lb"}]
            )
        elif choice == 10:
            machine.exercise_update(data, rng.choice(CATALOG), [], "Brace")
        elif choice == 11:
            machine.program_unassign()
        elif choice == 12:
            machine.program_schedule(rng.choice([None, date(2027, 1, 4)]))
        elif choice == 13:
            machine.session_update(data, rng.choice([KEEP, "Heavy day"]), rng.choice([None, 2]))
        elif choice == 14:
            machine.session_reschedule(data, rng.randrange(0, 3), date(2027, 2, 1))
        elif choice == 15:
            machine.exercise_update(data, None, None, None, rng.choice([None, warmup]))
        else:
            machine.program_update(rng.randrange(2, 6), {1: "deload"})
        machine.structure_holds()
        machine.latest_events_reconstruct_the_program()
        machine.latest_events_carry_the_derived_state()
    new_kinds = {"week.copy", "week.insert", "week.remove", "series.progress", "program.update"}
    new_kinds |= {"program.assign", "program.unassign", "maxes.set", "exercise.update"}
    new_kinds |= {"program.schedule", "session.update", "session.reschedule"}
    assert new_kinds <= machine.applied_kinds
    assert machine.applied > 100 and machine.rejected > 0


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_the_machine_syncs_and_reverts_a_copy() -> None:
    """Guard against a vacuous run of the sync and revert rules: on a copy, syncs (real and
    previews) and reverts apply, each revert checked against the content of its version."""
    import random

    rng = random.Random(11)

    class Data:
        def draw(self, strategy: Any) -> Any:
            return strategy.example()

    data: Any = Data()
    machine = ProgramMachine()
    machine.create(data, "copy")
    assert machine.template is not None and machine.program is not None
    kinds = ["series", "add", "remove", "exercise", "rename"]
    for _ in range(120):
        choice = rng.randrange(5)
        if choice == 0:
            machine.template_changes(data, rng.choice(kinds))
        elif choice == 1:
            machine.program_sync(data)
        elif choice == 2:
            machine.program_sync_preview(data)
        elif choice == 3:
            machine.program_revert(data)
        else:
            machine.series_replace(data, 0, [{"reps": 3}])
        machine.structure_holds()
        machine.latest_events_reconstruct_the_program()
        machine.latest_events_carry_the_derived_state()
    assert {"program.copy", "program.sync", "program.revert"} <= machine.applied_kinds
    assert machine.dry_runs > 0
