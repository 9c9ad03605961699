"""`program-builder demo`: a coach's session against the running service, through Kafka only.

Creates a 4-week program, builds a superset and a circuit, prescribes cluster sets and a
rep-range progression, moves exercises, hands a copy of the block to an athlete with her maxes
(the relative loads resolved to the bar, and again after a new max), puts her block on
her calendar with a top single at RPE 8 and its warm-ups, imports a legacy program,
then prints every command's outcome and the latest state the events describe. Exits 1 if any
step is not applied.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from service.clients.client import ServiceClient
from service.clients.demo_story import story
from service.config import Settings

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
    if resolved:  # The weight on the bar for the program's athlete
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
    """`warm-up 5 @ 55, 3 @ 82.5 kg → ` before the series, or nothing."""
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
        for number, step in enumerate(story(), 1):
            command = client.command(step.type, step.program, **step.fields)
            names.update(_names_in(command))
            result = await client.request(command, timeout)
            failures += result["status"] != "applied"
            steps.add_row(
                str(number), step.text, step.type, _outcome(result), str(result["programVersion"])
            )
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


def _outcome(result: dict[str, Any]) -> str:
    """A result in the steps table: its status, a sync's summary, an error in red."""
    if result["status"] != "applied":
        error = result["error"]
        return f"[red]{result['status']}: {error['code']} — {error['message']}"
    if result.get("sync"):
        return str(result["status"]) + _sync_summary(result["sync"])
    return str(result["status"])


def _sync_summary(report: dict[str, Any]) -> str:
    """A sync's report in a few words, after its status: how many sessions in each state, and
    whether it was a dry run."""
    counts: dict[str, int] = {}
    for session in report["sessions"]:
        counts[session["state"]] = counts.get(session["state"], 0) + 1
    states = ", ".join(f"{state} {count}" for state, count in counts.items())
    return f" (dry): {states}" if report["dryRun"] else f": {states}"


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
