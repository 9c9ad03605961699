"""`program-builder demo`: a coach's session against the running service, through Kafka only.

Creates a 4-week program, builds a superset and a circuit, prescribes cluster sets and a
rep-range progression, moves exercises, hands a copy of the block to an athlete with her maxes
(v1.2: the relative loads resolved to the bar, and again after a new max), puts her block on
her calendar with a top single at RPE 8 and its warm-ups (v1.3), imports a legacy program,
then prints every command's outcome and the latest state the events describe. Exits 1 if any
step is not applied.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from service.config import Settings
from service.entrypoints.client import ServiceClient

TENANT = "demo-coach"


def describe_set(item: dict[str, Any]) -> str:
    """`5 @ 100 kg RPE 8 · 3 min`, `cluster 2 @ 85 %1RM (= 107.5 kg) · 20 s`, `8-12 @ BW`."""
    if item.get("reps") is not None:
        reps = str(item["reps"])
    elif item.get("repsMin") is not None:
        reps = f"{item['repsMin']}-{item['repsMax']}"
    elif item.get("durationSeconds") is not None:
        reps = f"{item['durationSeconds']} s"
    else:
        reps = "?"
    if item.get("perSide"):
        reps += " per side"
    text = reps if item.get("setType", "working") == "working" else f"{item['setType']} {reps}"
    load = item.get("load")
    if load:
        unit = {"percent1rm": " %1RM", "bodyweight": " BW", "kg": " kg", "lb": " lb"}
        text += f" @ {load['value']:g}{unit[load['unit']]}"
    resolved = item.get("resolvedLoad")
    if resolved:  # v1.2: the weight on the bar for the program's athlete
        text += f" (= {resolved['value']:g} {resolved['unit']})"
    if item.get("rpe") is not None:
        text += f" RPE {item['rpe']:g}"
    if item.get("rir") is not None:
        text += f" RIR {item['rir']}"
    if item.get("tempo"):
        text += f" {item['tempo']}"
    rest = item.get("restSeconds")
    if rest is not None:
        text += f" · {rest // 60} min" if rest >= 60 and rest % 60 == 0 else f" · {rest} s"
    return text


def describe_warmups(warmups: list[dict[str, Any]]) -> str:
    """(v1.3) `warm-up 5 @ 55, 3 @ 82.5 kg → ` before the series, or nothing."""
    if not warmups:
        return ""
    sets = ", ".join(f"{w['reps']} @ {w['load']['value']:g}" for w in warmups)
    return f"warm-up {sets} {warmups[-1]['load']['unit']} → "


def describe_series(series: list[dict[str, Any]]) -> str:
    """Runs of identical sets collapse: `3x 5 @ 100 kg`."""
    parts: list[str] = []
    previous, count = "", 0
    for item in series:
        text = describe_set(item)
        if text == previous:
            count += 1
            continue
        if previous:
            parts.append(f"{count}x {previous}" if count > 1 else previous)
        previous, count = text, 1
    if previous:
        parts.append(f"{count}x {previous}" if count > 1 else previous)
    return ", ".join(parts) or "—"


async def quiet(client: ServiceClient, seconds: float, timeout: float) -> None:
    """Until no event arrived for `seconds` (or `timeout` passed)."""

    def seen() -> int:
        return sum(len(records) for records in client.events.values())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = seen()
        await asyncio.sleep(seconds)
        if seen() == before:
            return


@dataclass(frozen=True)
class Step:
    """One command of the story: what it does for the coach, its type, fields and program."""

    text: str
    type: str
    fields: dict[str, Any]
    program: str


def _script() -> list[Step]:
    """The coach's session, step by step; ids are fresh per run."""
    ids = {name: str(uuid.uuid4()) for name in DEMO_IDS}

    def block(text: str, kind: str, **fields: Any) -> Step:
        """A step on the strength block, the program the story builds."""
        return Step(text, kind, fields, ids["program"])

    def catalog(name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"catalog:{name}"))

    def exercise(name: str, pe: str, session: str = "day1", **more: Any) -> dict[str, Any]:
        return {
            "sessionId": ids[session],
            "programExerciseId": ids[pe],
            "exerciseId": catalog(name),
            "name": name,
            **more,
        }

    warmup = {"setType": "warmup", "reps": 5, "load": {"value": 60, "unit": "kg"}}
    cluster = {
        "setType": "cluster",
        "reps": 2,
        "load": {"value": 85, "unit": "percent1rm"},
        "restSeconds": 20,
    }
    squat_sets = [warmup, cluster, cluster, {**cluster, "restSeconds": 180}]
    rep_ranges = [(10, 12), (8, 10), (6, 8), (4, 6)]
    rdl_set = {"rir": 2, "tempo": "31X0", "restSeconds": 90}
    return [
        block("a 4-week strength block", "program.create", name="Strength block", weeks=4),
        block("day 1", "session.add", sessionId=ids["day1"], name="Day 1 — lower"),
        block("day 2", "session.add", sessionId=ids["day2"], name="Day 2 — upper"),
        block(
            "back squat with cluster sets",
            "exercise.add",
            **exercise("Back squat", "squat", series=squat_sets),
        ),
        block(
            "Romanian deadlift",
            "exercise.add",
            **exercise("Romanian deadlift", "rdl", newGroupId=ids["superset"]),
        ),
        block(
            "+ walking lunge: a superset",
            "exercise.add",
            **exercise("Walking lunge", "lunge", groupId=ids["superset"]),
        ),
        block("bench press", "exercise.add", **exercise("Bench press", "bench", "day2")),
        block("pull-up", "exercise.add", **exercise("Pull-up", "pullup", "day2")),
        block("dip", "exercise.add", **exercise("Dip", "dip", "day2")),
        block(
            "pull-up + dip + bench: a circuit",
            "exercises.group",
            sessionId=ids["day2"],
            programExerciseIds=[ids["pullup"], ids["dip"], ids["bench"]],
            groupId=ids["circuit"],
        ),
        block(
            "circuit: 3 rounds, 2 min between",
            "group.update",
            groupId=ids["circuit"],
            rounds=3,
            restBetweenRoundsSeconds=120,
        ),
        *(
            block(
                f"RDL week {week + 1}: {low}-{high} reps",
                "series.replace",
                programExerciseId=ids["rdl"],
                week=week,
                series=[{"repsMin": low, "repsMax": high, **rdl_set}] * 3,
            )
            for week, (low, high) in enumerate(rep_ranges)
        ),
        block(
            "top set for the squat",
            "series.update",
            programExerciseId=ids["squat"],
            index=3,
            set={"rpe": 9, "reps": 1},
        ),
        block(
            "bench leaves the circuit, first on day 2",
            "exercise.move",
            programExerciseId=ids["bench"],
            toNewGroupAt=0,
        ),
        block(
            "lunge moves to day 2, last",
            "exercise.move",
            programExerciseId=ids["lunge"],
            toSessionId=ids["day2"],
            toNewGroupAt=2,
        ),
        block(
            "lunges are per leg",
            "series.replace",
            programExerciseId=ids["lunge"],
            series=[{"reps": 10, "perSide": True, "restSeconds": 60}] * 3,
        ),
        block(
            "squat: +2.5 %1RM a week for weeks 2-4",
            "series.progress",
            programExerciseId=ids["squat"],
            toWeeks=[1, 2, 3],
            step={"load": 2.5},
        ),
        block(
            "day 2 as it stands, copied to weeks 2-4",
            "week.copy",
            fromWeek=0,
            toWeeks=[1, 2, 3],
            sessionId=ids["day2"],
        ),
        block("week 4 is a deload", "program.update", weekLabels=[{"week": 3, "label": "deload"}]),
        block(
            "deload: the squat's week 4 lighter",
            "series.replace",
            programExerciseId=ids["squat"],
            week=3,
            series=[{"reps": 5, "load": {"value": 70, "unit": "percent1rm"}}] * 3,
        ),
        block(
            "the circuit becomes an EMOM",
            "group.update",
            groupId=ids["circuit"],
            format="emom",
            intervalSeconds=60,
            rounds=10,
        ),
        block("a week inserted before the deload (travel)", "week.insert", at=3),
        block(
            "a copy of the block for Sam, with her maxes",
            "program.copy",
            newProgramId=ids["copy"],
            name="Strength block — Sam",
            athlete={
                "athleteId": "athlete-sam",
                "maxes": [{"exerciseId": catalog("Back squat"), "value": 140, "unit": "kg"}],
                "trainingMaxPercent": 90,
            },
        ),
        Step(
            "Sam tests a new squat max: her loads follow",
            "maxes.set",
            {"maxes": [{"exerciseId": catalog("Back squat"), "value": 150, "unit": "kg"}]},
            ids["copy"],
        ),
        Step(
            "Sam's block goes on her calendar: week 1 starts Monday 4 January",
            "program.schedule",
            {"startDate": "2027-01-04"},
            ids["copy"],
        ),
        Step(
            "a heavy day on Fridays",
            "session.add",
            {"sessionId": ids["heavy"], "name": "Heavy day", "dayOffset": 4},
            ids["copy"],
        ),
        Step(
            "a top single at RPE 8 from her max, back-off triples, warm-ups worked out",
            "exercise.add",
            exercise(
                "Back squat",
                "single",
                "heavy",
                series=[
                    {"reps": 1, "rpe": 8, "restSeconds": 300},
                    {"reps": 3, "rir": 2, "restSeconds": 180},
                    {"reps": 3, "rir": 2, "restSeconds": 180},
                ],
                warmup={
                    "steps": [
                        {"percent": 40, "reps": 5},
                        {"percent": 60, "reps": 3},
                        {"percent": 75, "reps": 2},
                        {"percent": 85, "reps": 1},
                    ],
                    "minLoad": {"value": 20, "unit": "kg"},
                },
            ),
            ids["copy"],
        ),
        Step(
            "the single climbs half an RPE a week",
            "series.progress",
            {"programExerciseId": ids["single"], "toWeeks": [1, 2], "step": {"rpe": 0.5}},
            ids["copy"],
        ),
        Step(
            "week 2's heavy day moves to Saturday (a wedding on Friday)",
            "session.reschedule",
            {"sessionId": ids["heavy"], "week": 1, "date": "2027-01-16"},
            ids["copy"],
        ),
        Step(
            "import a legacy program",
            "program.import",
            {"program": _legacy_snapshot(ids)},
            ids["legacy"],
        ),
        Step("and delete it again", "program.delete", {}, ids["legacy"]),
    ]


DEMO_IDS = (
    "program",
    "copy",
    "legacy",
    "day1",
    "day2",
    "squat",
    "rdl",
    "lunge",
    "bench",
    "pullup",
    "dip",
    "superset",
    "circuit",
    "heavy",
    "single",
    "old-day",
    "old-press",
    "old-row",
    "old-curl",
)


def _legacy_snapshot(ids: dict[str, str]) -> dict[str, Any]:
    def old(name: str, key: str, order: int, superset: int | None, **row: Any) -> dict[str, Any]:
        return {
            "programExerciseId": ids[key],
            "exerciseId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"catalog:{name}")),
            "name": name,
            "orderIndex": order,
            "supersetGroup": superset,
            "supersetOrder": order,
            "prescriptionRows": [row] if row else [],
        }

    return {
        "format": "legacy",
        "name": "Old hypertrophy block",
        "weeks": 1,
        "sessions": [
            {
                "sessionId": ids["old-day"],
                "name": "Push/pull",
                "exercises": [
                    old("Overhead press", "old-press", 0, None, sets=3, reps=8, weight=50, rpe=8),
                    old("Cable row", "old-row", 1, 1, sets=3, reps=12, restSeconds=60),
                    old("Hammer curl", "old-curl", 2, 1, sets=2, reps=15),
                ],
            }
        ],
    }


async def run_demo(settings: Settings, console: Console | None = None, timeout: float = 30) -> int:
    console = console or Console(width=None if Console().is_terminal else 120)
    topics = settings.topics
    client = ServiceClient.of(
        settings,
        tenant_id=TENANT,
        follow=[
            topics.command_results,
            topics.prescription_updated,
            topics.session_updated,
            topics.program_updated,
        ],
        topic_timeout=timeout,
    )
    try:
        await client.start()
    except TimeoutError as error:
        raise TimeoutError(f"{error}: is the service running?") from error
    failures = 0
    names: dict[str, str] = {}
    try:
        steps = Table(title="Commands", title_justify="left")
        for column in ("#", "step", "type", "outcome", "version"):
            steps.add_column(column)
        last = ""
        for number, step in enumerate(_script(), 1):
            command = client.command(step.type, step.program, **step.fields)
            names.update(_names_in(command))
            result = await client.request(command, timeout)
            outcome = result["status"]
            if outcome != "applied":
                failures += 1
                outcome = (
                    f"[red]{outcome}: {result['error']['code']} — {result['error']['message']}"
                )
            steps.add_row(str(number), step.text, step.type, outcome, str(result["programVersion"]))
            last = command["commandId"]
        console.print(steps)
        # Events follow their results on other topics and partitions: wait for the last
        # command's first event, then until nothing new arrived for half a second.
        await client.wait_for(
            lambda: any(
                event["causationId"] == last
                for topic in (topics.prescription_updated, topics.session_updated)
                for event in client.values(topic)
            ),
            10,
        )
        await quiet(client, 0.5, timeout=10)
        console.print(_state_table(client, names))
        console.print(_weeks_table(client, names, _SHOWN_WEEKS_OF))
        console.print(
            f"{len(client.results)} results, "
            f"{len(client.events[topics.prescription_updated])} prescription-updated and "
            f"{len(client.events[topics.session_updated])} session-updated events consumed."
        )
    finally:
        await client.stop()
    return 1 if failures else 0


def _names_in(value: Any) -> dict[str, str]:
    """programExerciseId -> name, from any command body."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        if "programExerciseId" in value and "name" in value:
            found[value["programExerciseId"]] = value["name"]
        for item in value.values():
            found |= _names_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= _names_in(item)
    return found


def _state_table(client: ServiceClient, names: dict[str, str]) -> Table:
    """What a consumer keeping the latest event per key now holds."""
    sessions = client.latest(client.topics.session_updated)
    prescriptions = client.latest(client.topics.prescription_updated)
    by_exercise: dict[str, list[dict[str, Any]]] = {}
    for event in prescriptions.values():
        if not event["deleted"]:
            by_exercise.setdefault(event["programExerciseId"], []).append(event)
    table = Table(title="Latest state from the events", title_justify="left")
    for column in ("session", "group", "exercise", "week", "date", "series"):
        table.add_column(column)
    programs: dict[str, int] = {}  # in the order the demo touched them
    for result in client.results.values():
        programs.setdefault(result["programId"], len(programs))
    ordered = sorted(
        (s for s in sessions.values() if not s["deleted"]),
        key=lambda s: (programs.get(s["programId"], len(programs)), s["orderIndex"]),
    )
    for session in ordered:
        for group in session["groups"]:
            label = f"{group['orderIndex'] + 1}. {group['kind']}"
            if group.get("format", "rounds") != "rounds":
                label += f" {group['format']}"
            if group["rounds"]:
                label += f" x{group['rounds']}"
            for member in group["exercises"]:
                weeks = sorted(
                    by_exercise.get(member["programExerciseId"], []), key=lambda e: int(e["week"])
                )
                for event in weeks:
                    table.add_row(
                        session["name"],
                        label,
                        names.get(member["programExerciseId"], member["name"]),
                        str(event["week"] + 1),
                        event.get("scheduledDate") or "",
                        describe_warmups(event.get("warmupSets", []))
                        + describe_series(event["series"]),
                    )
                    label = ""
    return table


_SHOWN_WEEKS_OF = "Back squat"
"""The exercise whose weeks the demo prints side by side."""


def _weeks_table(client: ServiceClient, names: dict[str, str], exercise_name: str) -> Table:
    """One exercise of the demo's block, its weeks side by side, labelled from program.updated."""
    first_program = next(iter(client.results.values()))["programId"]
    program = client.latest(client.topics.program_updated).get(first_program, {})
    weeks = {
        event["week"]: event
        for event in client.latest(client.topics.prescription_updated).values()
        if event["programId"] == first_program
        and not event["deleted"]
        and names.get(event["programExerciseId"]) == exercise_name
    }
    labels = {label["week"]: label["label"] for label in program.get("weekLabels", [])}
    table = Table(
        title=f"{exercise_name}, week by week ({program.get('name', '')})", title_justify="left"
    )
    table.add_column("set")
    for week in range(program.get("weeks", 0)):
        label = f" ({labels[week]})" if week in labels else ""
        table.add_column(f"week {week + 1}{label}")
    rows = max((len(event["series"]) for event in weeks.values()), default=0)
    for index in range(rows):
        cells = []
        for week in range(program.get("weeks", 0)):
            series = weeks[week]["series"] if week in weeks else []
            cells.append(describe_set(series[index]) if index < len(series) else "")
        table.add_row(str(index + 1), *cells)
    return table
