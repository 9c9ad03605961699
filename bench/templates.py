"""(`--templates N`) What templates that stay in sync and undo cost, and what the kept
versions weigh.

A template of 6 sessions x 4-5 exercises x 8 weeks is seeded through commands (a main lift in
percent of 1RM with a warm-up, a secondary lift in kg with a tempo, accessories with rep ranges,
the last two a superset; 3-5 sets each; weeks 1-7 by `series.progress`). Then three rounds, each
sent as fast as the service answers and measured as the closed loops are (the service process's
CPU time over the round, per command):

1. N `program.copy` of the template, each to another athlete;
2. the template changes (`series.replace` of weeks 5-7 of two sessions' main lift, one session
   renamed), then N `program.sync` of the copies (real ones: three sessions synced, three
   unchanged, six prescriptions changed in each);
3. N `program.revert` of the copies to their version before the sync.

A dry-run sync and the database content of one copy check that each round did what it says.
`KeptVersions` reads `program_history` (rows, bytes, bytes per version) between phases, and the
tables' sizes at the end.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from tqdm import tqdm

from bench.meters import SampledService
from bench.workload import Driver
from contracts.topics import Topics
from service.storage import history

SESSIONS = 6
WEEKS = 8
CHANGED_SESSIONS = (0, 2)  # their main lift gets new weeks 5-7 between the copies and the syncs
CHANGED_WEEKS = (5, 6, 7)
RENAMED_SESSION = 4
PROGRAM_TABLES = ("programs", "sessions", "exercise_groups", "program_exercises", "prescriptions")
HISTORY_TABLE = "program_history"


class ResultsDriver(Driver):
    """A driver that follows the results only (a copy publishes some 220 events: decoding them
    here would take a share of the cores from the service) and keeps each result whole (the
    version it made, the sync report)."""

    def __init__(self, bootstrap: str, topics: Topics, tenant: str) -> None:
        super().__init__(bootstrap, topics, tenant)
        self.follow = [topics.command_results]

    def received(self, record: Any, value: dict[str, Any] | None, arrived: float) -> None:
        super().received(record, value, arrived)
        if value is not None and record.topic == self.topics.command_results:
            self.results.setdefault(value["commandId"], value)


@dataclass
class Template:
    id: str
    sessions: list[str] = field(default_factory=list)
    exercises: list[list[str]] = field(default_factory=list)  # per session, in order
    lifts: list[str] = field(default_factory=list)  # catalog ids of the main lifts (the maxes)
    prescriptions: int = 0


Command = tuple[str, str, dict[str, Any]]  # type, programId, fields


def _main_lift(rng: random.Random) -> list[dict[str, Any]]:
    sets = rng.randint(3, 5)
    percent = rng.choice([70, 72.5, 75, 77.5])
    reps = rng.choice([3, 4, 5])
    return [
        {"reps": reps, "load": {"value": percent, "unit": "percent1rm"}, "restSeconds": 180}
        for _ in range(sets)
    ]


def _secondary(rng: random.Random) -> list[dict[str, Any]]:
    load = rng.randrange(40, 100, 5)
    return [
        {
            "reps": rng.choice([6, 8]),
            "load": {"value": load, "unit": "kg"},
            "rpe": rng.choice([7.5, 8]),
            "tempo": "31X0",
            "restSeconds": 150,
        }
        for _ in range(rng.randint(3, 4))
    ]


def _accessory(rng: random.Random) -> list[dict[str, Any]]:
    low = rng.choice([8, 10])
    load = rng.randrange(10, 40, 2)
    series: list[dict[str, Any]] = [
        {
            "repsMin": low,
            "repsMax": low + 4,
            "load": {"value": load, "unit": "kg"},
            "rir": 2,
            "restSeconds": 90,
        }
        for _ in range(rng.randint(2, 3))
    ]
    series.append({**series[-1], "setType": "amrap", "rir": 0})
    return series


WARMUP = {
    "steps": [{"percent": 40, "reps": 5}, {"percent": 60, "reps": 3}, {"percent": 80, "reps": 1}],
    "minLoad": {"value": 20, "unit": "kg"},
}


def template_commands(rng: random.Random, template: Template) -> list[Command]:
    """Every command that makes the template, in order (all on its key)."""
    program = template.id
    out: list[Command] = [
        ("program.create", program, {"name": "Strength block (template)", "weeks": WEEKS}),
        (
            "program.update",
            program,
            {"weekLabels": [{"week": 3, "label": "deload"}, {"week": 7, "label": "test"}]},
        ),
    ]
    progress: list[Command] = []
    for day in range(SESSIONS):
        session = str(uuid.uuid4())
        template.sessions.append(session)
        out.append(("session.add", program, {"sessionId": session, "name": f"Day {day + 1}"}))
        count = rng.choice([4, 5])
        exercises = [str(uuid.uuid4()) for _ in range(count)]
        template.exercises.append(exercises)
        superset = str(uuid.uuid4())
        for n, exercise in enumerate(exercises):
            catalog = str(uuid.uuid4())
            fields: dict[str, Any] = {
                "sessionId": session,
                "programExerciseId": exercise,
                "exerciseId": catalog,
                "name": ("Main lift", "Secondary lift")[n] if n < 2 else f"Accessory {n - 1}",
            }
            if n == 0:
                template.lifts.append(catalog)
                fields |= {"series": _main_lift(rng), "warmup": WARMUP}
            elif n == 1:
                fields["series"] = _secondary(rng)
            else:
                fields["series"] = _accessory(rng)
            if n == count - 2:
                fields["newGroupId"] = superset
            elif n == count - 1:
                fields["groupId"] = superset
            out.append(("exercise.add", program, fields))
            progress.append(
                (
                    "series.progress",
                    program,
                    {
                        "programExerciseId": exercise,
                        "toWeeks": list(range(1, WEEKS)),
                        "step": {"load": 2.5 if n < 2 else 1},
                    },
                )
            )
        out.append(
            (
                "group.update",
                program,
                {"groupId": superset, "rounds": 3, "restBetweenRoundsSeconds": 60},
            )
        )
        template.prescriptions += count * WEEKS
    return out + progress


def template_changes(template: Template) -> list[Command]:
    """What the coach changes in the template between the copies and the syncs."""
    out: list[Command] = [
        (
            "series.replace",
            template.id,
            {
                "programExerciseId": template.exercises[day][0],
                "week": week,
                "series": [
                    {
                        "reps": 3,
                        "load": {"value": 80 + 2.5 * (week - 5) + 2.5 * n, "unit": "percent1rm"},
                        "restSeconds": 240,
                    }
                    for n in range(5)
                ],
            },
        )
        for day in CHANGED_SESSIONS
        for week in CHANGED_WEEKS
    ]
    out.append(
        (
            "session.update",
            template.id,
            {"sessionId": template.sessions[RENAMED_SESSION], "name": "Day 5 (heavy pull)"},
        )
    )
    return out


async def send_all(
    driver: ResultsDriver, commands: list[Command], timeout: float, desc: str | None = None
) -> list[str]:
    ids = []
    with tqdm(total=len(commands), desc=desc, unit="cmd", leave=False, disable=not desc) as bar:
        for kind, program, fields in commands:
            ids.append(await driver.submit(kind, program, **fields))
        await driver.flush()
        await driver.wait_results(ids, timeout, bar)
    return ids


def _rejections(driver: ResultsDriver, ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": driver.results[i]["type"], "error": driver.results[i].get("error")}
        for i in ids
        if driver.results[i]["status"] != "applied"
    ]


IDLE_MARGIN = 0.03
"""A round is over when the service is back within this share of a core of its idle rate."""


async def idle_rate(service: SampledService, seconds: float = 2.0, slices: int = 4) -> float:
    """The service's CPU rate (cores) when nothing is sent: the least of `slices` slices, so
    that the tail of earlier work does not count. Idle, it still polls its consumer, its relay
    and the database; a round's CPU is counted net of this too."""
    rates = []
    for _ in range(slices):
        before, started = service.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds / slices)
        rates.append((service.cpu_seconds() - before) / (time.monotonic() - started))
    return min(rates)


async def settle(
    service: SampledService,
    kept: KeptVersions,
    idle: float,
    interval: float = 0.5,
    timeout: float = 60,
) -> float | None:
    """Until the outbox holds nothing unsent and the service is back to its idle rate: what a
    round sent is published (events leave after their result), so its CPU is counted in its
    own round. The seconds it took, None when it was still busy after `timeout`."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        before, at = service.cpu_seconds(), time.monotonic()
        await asyncio.sleep(interval)
        rate = (service.cpu_seconds() - before) / (time.monotonic() - at)
        if rate <= idle + IDLE_MARGIN and await kept.unsent() == 0:
            return round(time.monotonic() - started, 2)
    return None


class KeptVersions:
    """`program_history` read between phases: rows (one per program version after its first),
    their bytes as stored (`history.size`), and what each phase added."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.snapshots: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, database_url: str) -> KeptVersions:
        return cls(await asyncpg.connect(database_url))

    async def close(self) -> None:
        await self.connection.close()

    async def unsent(self) -> int:
        """Outbox rows not published yet (events, results)."""
        return int(
            await self.connection.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        )

    async def size(self) -> tuple[int, int] | None:
        """(versions, bytes), None when the service keeps no history (an older checkout)."""
        if await self.connection.fetchval("SELECT to_regclass($1)", HISTORY_TABLE) is None:
            return None
        return await history.size(self.connection)

    async def snapshot(self, after: str, commands: int | None = None) -> dict[str, Any] | None:
        """The history's size now, and what it grew by since the last snapshot (per command of
        the phase, when `commands` is given)."""
        found = await self.size()
        if found is None:
            return None
        versions, size = found
        snapshot: dict[str, Any] = {
            "after": after,
            "versions": versions,
            "bytes": size,
            "bytes_per_version": round(size / versions, 1) if versions else None,
        }
        if self.snapshots:
            before = self.snapshots[-1]
            added, grown = versions - before["versions"], size - before["bytes"]
            snapshot |= {
                "versions_added": added,
                "bytes_added": grown,
                "bytes_per_added_version": round(grown / added, 1) if added > 0 else None,
            }
            if commands:
                snapshot["commands"] = commands
                snapshot["versions_per_command"] = round(added / commands, 3)
                snapshot["bytes_per_command"] = round(grown / commands, 1)
        self.snapshots.append(snapshot)
        return snapshot

    async def tables(self) -> dict[str, Any]:
        """pg_total_relation_size of the program's tables and of the history (and its parts: heap,
        TOAST with the free space and visibility maps, indexes), their rows and the rows' own bytes
        (pg_column_size), and the history's size against the program tables'."""
        names = [*PROGRAM_TABLES, HISTORY_TABLE]
        sizes = {
            row["name"]: row
            for row in await self.connection.fetch(
                "SELECT name, pg_total_relation_size(r) AS size, pg_relation_size(r) AS heap,"
                " pg_table_size(r) - pg_relation_size(r) AS toast, pg_indexes_size(r) AS indexes"
                " FROM unnest($1::text[]) AS name, to_regclass(name) AS r",
                names,
            )
        }
        tables: dict[str, Any] = {}
        for name in names:
            found = sizes.get(name)
            if found is None or found["size"] is None:
                continue
            counted = await self.connection.fetchrow(
                f"SELECT count(*) AS rows, coalesce(sum(pg_column_size(t.*)), 0) AS row_bytes"
                f" FROM {name} t"
            )
            assert counted is not None
            # Rows ever inserted (also by transactions rolled back) and dead rows not vacuumed
            # yet: what the heap holds beyond the live rows (the statistics lag by a second).
            activity = await self.connection.fetchrow(
                "SELECT n_tup_ins, n_tup_upd, n_tup_del, n_dead_tup FROM pg_stat_user_tables"
                " WHERE relid = to_regclass($1)",
                name,
            )
            tables[name] = {
                "bytes": found["size"],
                "heap": found["heap"],
                "toast": found["toast"],
                "indexes": found["indexes"],
                "rows": counted["rows"],
                "row_bytes": int(counted["row_bytes"]),
                **({} if activity is None else dict(activity)),
            }
        program = sum(tables[name]["bytes"] for name in PROGRAM_TABLES if name in tables)
        kept = tables.get(HISTORY_TABLE, {}).get("bytes")
        return {
            "tables": tables,
            "program_tables_bytes": program,
            "history_bytes": kept,
            "history_vs_program_tables": round(kept / program, 3) if kept and program else None,
        }

    async def program_bytes(self, program_id: str) -> int:
        """One program's rows as stored (pg_column_size of each row, headers and indexes aside):
        what a version would weigh if it were kept whole."""
        parts = " + ".join(
            f"(SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {name} t"
            f" WHERE {'id' if name == 'programs' else 'program_id'} = $1::uuid)"
            for name in PROGRAM_TABLES
        )
        return int(await self.connection.fetchval(f"SELECT {parts}", program_id))

    async def content(self, program_id: str) -> dict[str, Any]:
        """A program's content as the database holds it (prescription versions aside), to compare
        a reverted copy with itself before its sync."""
        sessions = await self.connection.fetch(
            "SELECT id, name, order_index FROM sessions WHERE program_id = $1::uuid ORDER BY id",
            program_id,
        )
        exercises = await self.connection.fetch(
            "SELECT id, session_id, group_id, order_within_group, exercise_id, name"
            " FROM program_exercises WHERE program_id = $1::uuid ORDER BY id",
            program_id,
        )
        prescriptions = await self.connection.fetch(
            "SELECT id, program_exercise_id, week, series::text AS series FROM prescriptions"
            " WHERE program_id = $1::uuid ORDER BY id",
            program_id,
        )
        program = await self.connection.fetchrow(
            "SELECT name, weeks FROM programs WHERE id = $1::uuid", program_id
        )
        return {
            "program": dict(program) if program else None,
            "sessions": [tuple(r) for r in sessions],
            "exercises": [tuple(r) for r in exercises],
            "prescriptions": [tuple(r) for r in prescriptions],
        }


def _states(result: dict[str, Any]) -> str:
    """A sync report as counts of its states: `synced 3, unchanged 3`."""
    counts = Counter(s["state"] for s in (result.get("sync") or {}).get("sessions", []))
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "no report"


async def measured_round(
    service: SampledService,
    driver: ResultsDriver,
    kept: KeptVersions,
    idle: float,
    command: str,
    commands: list[Command],
) -> tuple[dict[str, Any], list[str]]:
    """One round sent as fast as the service answers: the service's CPU per command, counted
    from the first send until what the round sent is published and the service is idle again
    (also net of its idle rate over that time), the rate, and what the history grew by."""
    await settle(service, kept, idle)
    idle_now = await idle_rate(service, 1.0, 2)
    rss_before, peak_before = service.rss(), service.peak_rss
    cpu_before, wall_before = service.cpu_seconds(), time.monotonic()
    started = time.perf_counter()
    ids = await send_all(driver, commands, 120 + 5 * len(commands), f"templates: {command}")
    cpu_at_last_result = service.cpu_seconds() - cpu_before
    elapsed = max(driver.result_at[i] for i in ids) - started
    settled = await settle(service, kept, idle)
    cpu = service.cpu_seconds() - cpu_before
    window = time.monotonic() - wall_before
    count = len(ids)
    result: dict[str, Any] = {
        "command": command,
        "commands": count,
        "applied": sum(driver.results[i]["status"] == "applied" for i in ids),
        "seconds": round(elapsed, 3),
        "commands_per_second": round(count / elapsed, 1),
        "service_cpu_ms_per_command": round(cpu * 1000 / count, 3),
        "service_cpu_ms_per_command_net_of_idle": round(
            max(0.0, cpu - idle_now * window) * 1000 / count, 3
        ),
        "service_cpu_ms_per_command_at_last_result": round(cpu_at_last_result * 1000 / count, 3),
        "idle_cpu_percent": round(idle_now * 100, 1),
        "counted_seconds": round(window, 2),
        "settled_after_last_result_seconds": settled,
        # The service's RSS before and after the round, and its peak so far (sampled every 0.2 s)
        "service_rss_mb": [round(rss_before / 2**20, 1), round(service.rss() / 2**20, 1)],
        "service_peak_rss_mb": [round(peak_before / 2**20, 1), round(service.peak_rss / 2**20, 1)],
    }
    rejected = _rejections(driver, ids)
    if rejected:
        result["rejected"] = len(rejected)
        result["first_rejection"] = rejected[0]
    grown = await kept.snapshot(f"templates: {command}", count)
    if grown is not None:
        result["history"] = {
            k: grown.get(k) for k in ("versions_added", "bytes_added", "bytes_per_added_version")
        }
    return result, ids


async def templates(
    bootstrap: str,
    topics: Topics,
    service: SampledService,
    kept: KeptVersions,
    count: int,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    driver = ResultsDriver(bootstrap, topics, tenant="bench-templates")
    await driver.start()
    try:
        return await _templates(driver, service, kept, count, rng)
    finally:
        await driver.stop()


async def _templates(
    driver: ResultsDriver,
    service: SampledService,
    kept: KeptVersions,
    count: int,
    rng: random.Random,
) -> dict[str, Any]:
    idle = await idle_rate(service)
    template = Template(str(uuid.uuid4()))
    making = template_commands(rng, template)
    ids = await send_all(driver, making, 300, "templates: seeding the template")
    if rejected := _rejections(driver, ids):
        raise RuntimeError(f"seeding the template failed: {rejected[:3]}")
    await kept.snapshot("templates: the template seeded")
    exercises = sum(len(e) for e in template.exercises)
    report: dict[str, Any] = {
        "template": {
            "sessions": SESSIONS,
            "exercises": exercises,
            "weeks": WEEKS,
            "prescriptions": template.prescriptions,
            "seeding_commands": len(making),
            "row_bytes": await kept.program_bytes(template.id),
        },
        "copies": count,
        "rounds": [],
        "checks": {},
    }

    # 1. The copies, each handed to an athlete.
    copies = [str(uuid.uuid4()) for _ in range(count)]
    copying = [
        (
            "program.copy",
            template.id,
            {
                "newProgramId": copy,
                "name": f"Strength block, athlete {n}",
                "athlete": {
                    "athleteId": f"athlete-{n}",
                    "maxes": [
                        {"exerciseId": lift, "value": rng.randrange(80, 220, 5), "unit": "kg"}
                        for lift in template.lifts
                    ],
                    "trainingMaxPercent": 90,
                },
            },
        )
        for n, copy in enumerate(copies)
    ]
    copied, _ = await measured_round(service, driver, kept, idle, "program.copy", copying)
    report["rounds"].append(copied)
    report["copy_row_bytes"] = await kept.program_bytes(copies[0])

    # The coach changes the template: each copy now has something to take.
    changes = template_changes(template)
    ids = await send_all(driver, changes, 120)
    if rejected := _rejections(driver, ids):
        raise RuntimeError(f"changing the template failed: {rejected[:3]}")
    report["template"]["changes"] = [kind for kind, _, _ in changes]
    await kept.snapshot("templates: the template changed")
    before_sync = await kept.content(copies[0])

    # 2. The syncs.
    syncing: list[Command] = [("program.sync", copy, {}) for copy in copies]
    synced, sync_ids = await measured_round(service, driver, kept, idle, "program.sync", syncing)
    reports = Counter(_states(driver.results[i]) for i in sync_ids)
    synced["sync_reports"] = dict(reports)
    report["rounds"].append(synced)
    sync_of = {copy: driver.results[i] for copy, i in zip(copies, sync_ids, strict=True)}
    after_sync = await kept.content(copies[0])
    dry = await send_all(driver, [("program.sync", copies[0], {"dryRun": True})], 60)
    report["checks"]["dry_run_after_sync"] = _states(driver.results[dry[0]])

    # 3. The reverts, each to the copy's version before its sync.
    reverting: list[Command] = [
        ("program.revert", copy, {"toVersion": sync_of[copy]["programVersion"] - 1})
        for copy in copies
        if sync_of[copy]["status"] == "applied"
    ]
    if reverting:
        reverted, revert_ids = await measured_round(
            service, driver, kept, idle, "program.revert", reverting
        )
        report["rounds"].append(reverted)
        after_revert = await kept.content(copies[0])
        dry = await send_all(driver, [("program.sync", copies[0], {"dryRun": True})], 60)
        report["checks"] |= {
            "dry_run_after_revert": _states(driver.results[dry[0]]),
            "real_sync": _states(sync_of[copies[0]]),
            "sync_changed_the_copy": after_sync != before_sync,
            "revert_restored_the_copy": after_revert == before_sync,
            "versions_after_revert": sorted(
                {int(driver.results[i].get("programVersion") or 0) for i in revert_ids}
            ),
        }
    report["idle_cpu_percent"] = round(idle * 100, 1)
    for suffix, figure in (
        ("", "service_cpu_ms_per_command_net_of_idle"),
        ("_gross", "service_cpu_ms_per_command"),
    ):
        by = {r["command"]: r[figure] for r in report["rounds"]}
        copy_ms = by.get("program.copy")
        for command, name in (
            ("program.sync", "sync_vs_copy"),
            ("program.revert", "revert_vs_copy"),
        ):
            ms = by.get(command)
            report[name + suffix] = round(ms / copy_ms, 2) if ms is not None and copy_ms else None
    return report
