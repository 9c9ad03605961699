"""`program-builder import` (CONTRACT.md § "Bulk import") against the real broker and PostgreSQL:
the installed console script in a subprocess (no terminal: plain progress lines), the service in
this process. A mixed file, its rerun, an interrupted run and its completion, the exit codes and
the lines that say why a run could not start; in process, a command re-sent after its result
did not come. A line rejected by a run and fixed in the file is imported by the next, an
unchanged one is reported again and never applied."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from devstack.children import free_port
from service.clients.bulk_import import import_file
from service.clients.import_file import command_id_of
from service.config import Settings
from service.process.app import Service
from tests.support.kafka import CommandClient
from tests.support.legacy_programs import import_line, legacy_program, prescriptions_of, write_lines
from tests.support.process import SCRIPT, ServiceProcess, service_env

pytestmark = pytest.mark.timeout(240)

TENANT = "tenant-import"


def tool_env(settings: Settings) -> dict[str, str]:
    return service_env(
        settings.kafka_bootstrap_servers,
        settings.database_url.get_secret_value(),
        settings.topic_prefix,
    )


def run_import(
    settings: Settings,
    *args: str,
    cwd: Path,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`program-builder import ARGS` in `cwd` (with `text` on its standard input)."""
    return subprocess.run(
        [str(SCRIPT), "import", *args],
        env=tool_env(settings) if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=text,
        stdin=subprocess.DEVNULL if text is None else None,
        check=False,
    )


def report_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def imported_programs(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, version FROM programs")
        return {str(row["id"]): row["version"] for row in rows}
    finally:
        await connection.close()


async def count(database_url: str, query: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


def mixed_file(path: Path) -> tuple[Path, list[dict]]:
    """Lines 1-3 good, 4 rejected (a row outside the program's weeks), 5-8 unreadable, a blank
    line 9 (skipped), 10 good without a tenantId (given by --tenant)."""
    rng = random.Random(24)
    good = [import_line(rng, TENANT) for _ in range(3)]
    bad_program = legacy_program(rng)
    bad_program["weeks"] = 1
    bad_program["sessions"][0]["exercises"][0]["prescriptionRows"][0]["week"] = 3
    rejected = import_line(rng, TENANT, bad_program)
    without_tenant = import_line(rng)
    huge = json.dumps({"programId": str(uuid.uuid4()), "tenantId": TENANT, "x": "a" * 300_000})
    lines: list[dict | str] = [
        *good,
        rejected,
        "{not json",
        json.dumps({"programId": "not-a-uuid", "tenantId": TENANT, "program": {}}),
        json.dumps({"programId": str(uuid.uuid4()), "tenantId": TENANT}),
        huge,
        "   ",
        without_tenant,
    ]
    return write_lines(path, lines), [*good, rejected, without_tenant]


async def test_a_mixed_file_then_its_rerun(
    service: Service, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    source, programs = mixed_file(tmp_path / "programs.jsonl")
    report = tmp_path / "report.jsonl"

    first = await asyncio.to_thread(
        run_import, settings, str(source), "--tenant", TENANT, "--report", str(report), cwd=tmp_path
    )

    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    assert (
        "imported 4, already imported 0, rejected 1 (validation_failed 1), unreadable 4"
        in first.stdout
    )
    # Without a terminal: plain progress lines on standard error, no bar.
    assert "import: 9/9 lines" in first.stderr, first.stderr
    entries = report_of(report)
    assert sorted(entry["line"] for entry in entries) == [4, 5, 6, 7, 8]
    by_line = {entry["line"]: entry for entry in entries}
    assert by_line[4]["code"] == "validation_failed"
    assert by_line[4]["programId"] == programs[3]["programId"]
    assert by_line[4]["details"], by_line[4]
    assert {by_line[n]["code"] for n in (5, 6, 7, 8)} == {"unreadable"}
    assert by_line[5]["programId"] is None
    assert by_line[6]["programId"] == "not-a-uuid"  # as the line gives it, to find it
    assert "256 KiB" in by_line[8]["message"]
    stored = await imported_programs(database_url)
    good_ids = {p["programId"] for p in (*programs[:3], programs[4])}
    assert set(stored) == good_ids
    assert all(version == 1 for version in stored.values())

    second = await asyncio.to_thread(
        run_import, settings, str(source), "--tenant", TENANT, "--report", str(report), cwd=tmp_path
    )

    assert second.returncode == 1, second.stderr
    assert (
        "imported 0, already imported 4, rejected 1 (validation_failed 1), unreadable 4"
        in second.stdout
    )
    assert sorted(entry["line"] for entry in report_of(report)) == [4, 5, 6, 7, 8]
    assert await imported_programs(database_url) == stored
    expected_prescriptions = sum(
        prescriptions_of(p["program"]) for p in (*programs[:3], programs[4])
    )
    assert await count(database_url, "SELECT count(*) FROM prescriptions") == (
        expected_prescriptions
    )


def rejected_and_fixed(rng: random.Random) -> tuple[dict, dict]:
    """A line the service rejects (`validation_failed`: a prescription row in a week past the
    program's last) and the same line fixed (the program as generated)."""
    fixed = import_line(rng, TENANT)
    rejected = copy.deepcopy(fixed)
    row = rejected["program"]["sessions"][0]["exercises"][0]["prescriptionRows"][0]
    row["week"] = fixed["program"]["weeks"] + 2
    return rejected, fixed


def content_id(tenant: str, program_id: str, line: bytes) -> str:
    """The second id of a line, from CONTRACT.md's words, not from the tool's code."""
    digest = hashlib.sha256(line).hexdigest()
    namespace = uuid.UUID("8f3c2b1a-6d4e-4f5a-9b7c-1e2d3c4b5a69")
    return str(uuid.uuid5(namespace, f"{tenant}:{program_id}:{digest}"))


async def inbox_status(database_url: str, command_id: str) -> str | None:
    connection = await asyncpg.connect(database_url)
    try:
        status: str | None = await connection.fetchval(
            "SELECT status FROM inbox WHERE command_id = $1", uuid.UUID(command_id)
        )
        return status
    finally:
        await connection.close()


async def test_a_rejected_line_fixed_in_the_file_is_imported_by_the_next_run(
    client: CommandClient, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Rejected under its first id; fixed (the file rewritten with CRLF endings), its first id
    answers `duplicate` of that rejection, so it is sent under its content id, the hash of the
    line without its `\\r\\n`, and applied: the program and its events are there, caused by that
    id. A third run finds it already imported."""
    rng = random.Random(31)
    good = [import_line(rng, TENANT) for _ in range(2)]
    rejected, fixed = rejected_and_fixed(rng)
    source = write_lines(tmp_path / "programs.jsonl", [good[0], rejected, good[1]])
    report = tmp_path / "report.jsonl"
    arguments = (str(source), "--report", str(report))

    first = await asyncio.to_thread(run_import, settings, *arguments, cwd=tmp_path)

    assert first.returncode == 1, first.stderr
    assert "imported 2, already imported 0, rejected 1 (validation_failed 1)" in first.stdout
    assert "content id" not in first.stdout  # nothing was rejected before this run
    [entry] = report_of(report)
    assert (entry["line"], entry["programId"], entry["code"]) == (
        2,
        rejected["programId"],
        "validation_failed",
    )
    assert rejected["programId"] not in await imported_programs(database_url)

    fixed_bytes = json.dumps(fixed).encode()
    texts = (json.dumps(good[0]).encode(), fixed_bytes, json.dumps(good[1]).encode())
    source.write_bytes(b"".join(text + b"\r\n" for text in texts))

    second = await asyncio.to_thread(run_import, settings, *arguments, cwd=tmp_path)

    assert second.returncode == 0, (second.stdout, second.stderr)
    assert "imported 1, already imported 2, rejected 0, unreadable 0" in second.stdout
    assert "rejected by an earlier run, sent again under their content id: 1" in second.stdout
    assert "import: 3/3 lines" in second.stderr, second.stderr
    assert not report.read_text()
    stored = await imported_programs(database_url)
    assert set(stored) == {line["programId"] for line in (*good, fixed)}
    assert all(version == 1 for version in stored.values())
    first_id = str(command_id_of(TENANT, fixed["programId"]))
    second_id = content_id(TENANT, fixed["programId"], fixed_bytes)
    assert await inbox_status(database_url, first_id) == "rejected"
    assert await inbox_status(database_url, second_id) == "applied"
    await client.wait_for(lambda: client.program_events(second_id))
    prescriptions, _ = await client.events_of(second_id, prescriptions_of(fixed["program"]))
    assert {event["programId"] for event in prescriptions} == {fixed["programId"]}
    assert len(prescriptions) == prescriptions_of(fixed["program"])
    assert not client.program_events(first_id)
    assert not client.prescription_events(first_id)

    third = await asyncio.to_thread(run_import, settings, *arguments, cwd=tmp_path)

    assert third.returncode == 0, (third.stdout, third.stderr)
    assert "imported 0, already imported 3, rejected 0, unreadable 0" in third.stdout
    assert await imported_programs(database_url) == stored


async def test_an_unchanged_rejected_line_is_reported_by_every_run_and_never_applied(
    client: CommandClient,
    settings: Settings,
    database_url: str,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    """Three runs of the same file with two rejected lines, one line in flight at a time (a
    line's second attempt takes no second slot, so the run cannot wait on itself): each run
    reports each line once, with its code. The second run's content ids are new to the service
    (rejected again), the third's answer `duplicate` of those rejections. Nothing is applied."""
    rng = random.Random(37)
    good = import_line(rng, TENANT)
    rejected = [rejected_and_fixed(rng)[0] for _ in range(2)]
    source = write_lines(tmp_path / "programs.jsonl", [rejected[0], good, rejected[1]])
    report = tmp_path / "report.jsonl"
    arguments = (str(source), "--report", str(report), "--in-flight", "1")
    summaries = [
        "imported 1, already imported 0, rejected 2 (validation_failed 2), unreadable 0",
        "imported 0, already imported 1, rejected 2 (validation_failed 2), unreadable 0",
        "imported 0, already imported 1, rejected 2 (validation_failed 2), unreadable 0",
    ]
    reports = []
    for run, summary in enumerate(summaries):
        done = await asyncio.to_thread(run_import, settings, *arguments, cwd=tmp_path)

        assert done.returncode == 1, (run, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert summary in done.stdout, (run, done.stdout)
        assert ("sent again under their content id: 2" in done.stdout) == (run > 0), done.stdout
        assert "import: 3/3 lines" in done.stderr, done.stderr
        entries = sorted(report_of(report), key=lambda entry: entry["line"])
        assert [(e["line"], e["programId"], e["code"]) for e in entries] == [
            (1, rejected[0]["programId"], "validation_failed"),
            (3, rejected[1]["programId"], "validation_failed"),
        ]
        reports.append(entries)
    assert reports[0] == reports[1] == reports[2]  # the same message and details every time
    assert all(entry["details"] for entry in reports[0])

    assert set(await imported_programs(database_url)) == {good["programId"]}
    for line in rejected:
        first_id = str(command_id_of(TENANT, line["programId"]))
        second_id = content_id(TENANT, line["programId"], json.dumps(line).encode())
        assert await inbox_status(database_url, first_id) == "rejected"
        assert await inbox_status(database_url, second_id) == "rejected"
        # On the shared results topic: each id's first answer, then its duplicates.
        for command_id, answers in ((first_id, 3), (second_id, 2)):
            await client.wait_for(lambda c=command_id, n=answers: len(client.result_copies[c]) >= n)
            statuses = [result["status"] for result in client.result_copies[command_id]]
            assert statuses == ["rejected", *["duplicate"] * (answers - 1)], (command_id, statuses)
    await client.wait_consumed(pool)
    rejected_ids = {line["programId"] for line in rejected}
    for topic in (
        client.topics.program_updated,
        client.topics.session_updated,
        client.topics.prescription_updated,
    ):
        assert not [e for e in client.values(topic) if e["programId"] in rejected_ids], topic


async def test_interrupted_then_completed(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """SIGINT mid-run: sending stops, the results in flight come back, exit 130; the same
    command again imports the rest, and nothing twice. (The service runs in a process of its
    own here, so the tool's run is not slowed by this test's event loop.)"""
    rng = random.Random(7)
    programs = [import_line(rng, TENANT) for _ in range(300)]
    source = write_lines(tmp_path / "many.jsonl", list(programs))
    service = ServiceProcess(tool_env(settings), tmp_path / "service.log")
    service.start()
    try:
        tool = subprocess.Popen(  # noqa: ASYNC220
            [str(SCRIPT), "import", str(source), "--in-flight", "4"],
            env=tool_env(settings),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not await count(database_url, "SELECT count(*) FROM programs"):
            assert tool.poll() is None, tool.communicate()
            await asyncio.sleep(0.1)
        tool.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(tool.communicate, timeout=60)
        assert tool.returncode == 130, (out, err)
        assert "Traceback" not in err
        assert "interrupted: sending stopped after line" in out
        assert "SIGINT: sending stopped" in err
        halfway = await count(database_url, "SELECT count(*) FROM programs")
        assert 0 < halfway < len(programs)

        again = await asyncio.to_thread(run_import, settings, str(source), cwd=tmp_path)

        assert again.returncode == 0, again.stderr
        summary = again.stdout.splitlines()[0]
        imported = int(summary.split("imported ")[1].split(",")[0])
        already = int(summary.split("already imported ")[1].split(",")[0])
        assert imported + already == len(programs), summary
        assert already >= halfway - 4 or already >= 1, summary
        assert await count(database_url, "SELECT count(*) FROM programs") == len(programs)
        # Exactly one applied program.import per line, whatever was sent twice.
        assert await count(
            database_url,
            "SELECT count(*) FROM inbox WHERE command_type = 'program.import'"
            " AND status = 'applied'",
        ) == len(programs)
        assert not (tmp_path / "import-report.jsonl").read_text()
    finally:
        service.terminate()


async def test_the_runs_that_cannot_start(settings: Settings, tmp_path: Path) -> None:
    missing = await asyncio.to_thread(run_import, settings, "no-such.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "program-builder import: no such file: no-such.jsonl"

    source = write_lines(tmp_path / "one.jsonl", [import_line(random.Random(1), TENANT)])
    nowhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    unreachable = await asyncio.to_thread(run_import, nowhere, str(source), cwd=tmp_path)
    assert unreachable.returncode == 2
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1, unreachable.stderr
    assert lines[0].startswith("program-builder import: cannot reach the Kafka broker at")
    assert "Traceback" not in unreachable.stderr


async def test_all_good_from_standard_input(
    service: Service, settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(3)
    text = "".join(json.dumps(import_line(rng, TENANT)) + "\n" for _ in range(5))
    done = await asyncio.to_thread(run_import, settings, "-", cwd=tmp_path, text=text)
    assert done.returncode == 0, done.stderr
    assert "imported 5, already imported 0, rejected 0, unreadable 0" in done.stdout


async def test_a_command_whose_result_did_not_come_is_sent_again(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sent before any service runs, the commands wait; re-sent every 0.5 s; once a service
    runs, each line is answered `applied` once and `duplicate` for its copies: imported, once."""
    rng = random.Random(11)
    programs = [import_line(rng, TENANT) for _ in range(5)]
    source = write_lines(tmp_path / "five.jsonl", list(programs))
    run = asyncio.create_task(
        import_file(
            settings,
            str(source),
            tenant=None,
            report_path=str(tmp_path / "report.jsonl"),
            in_flight=256,
            resend_after=0.5,
            terminal=False,
            progress_interval=0.2,
        )
    )
    await asyncio.sleep(2.5)
    assert not run.done()
    service = Service(settings)
    await service.app.start()
    try:
        status = await asyncio.wait_for(run, 60)
    finally:
        await service.app.stop()
    out = capsys.readouterr()
    assert status == 0, out
    assert "imported 5, already imported 0, rejected 0, unreadable 0" in out.out
    assert "sent again after no result came:" in out.out
    assert "0 rejected, 0 unreadable, 5 waiting" in out.err  # the plain progress lines


def test_command_ids_are_the_contracts() -> None:
    assert command_id_of("t", "00000000-0000-0000-0000-000000000001") == uuid.uuid5(
        uuid.UUID("8f3c2b1a-6d4e-4f5a-9b7c-1e2d3c4b5a69"), "t:00000000-0000-0000-0000-000000000001"
    )


def test_help_names_the_options() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "service", "import", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("FILE", "--tenant", "--report", "--in-flight"):
        assert option in shown


LEGACY_TABLES = """
CREATE TABLE legacy_programs (id uuid PRIMARY KEY, tenant_id text, name text, weeks integer);
CREATE TABLE legacy_sessions (id uuid PRIMARY KEY, program_id uuid, name text, position integer);
CREATE TABLE legacy_exercises (id uuid PRIMARY KEY, session_id uuid, exercise_id uuid, name text,
    order_index integer, superset_group integer, superset_order integer);
CREATE TABLE legacy_prescription_rows (exercise_id uuid, week integer, position integer,
    sets integer, reps integer, weight numeric, rpe numeric, rest_seconds integer);
"""


async def test_the_readmes_export_of_legacy_tables_imports(
    service: Service, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """docs/legacy-export.sql over tables shaped like the legacy snapshot gives lines the import
    takes: the same programs as the snapshots they were filled from."""
    rng = random.Random(5)
    lines = [import_line(rng, TENANT) for _ in range(3)]
    export = (Path(__file__).parents[2] / "docs" / "legacy-export.sql").read_text()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(LEGACY_TABLES)
        for line in lines:
            program = line["program"]
            await connection.execute(
                "INSERT INTO legacy_programs VALUES ($1, $2, $3, $4)",
                uuid.UUID(line["programId"]),
                TENANT,
                program["name"],
                program["weeks"],
            )
            for position, session in enumerate(program["sessions"]):
                await connection.execute(
                    "INSERT INTO legacy_sessions VALUES ($1, $2, $3, $4)",
                    uuid.UUID(session["sessionId"]),
                    uuid.UUID(line["programId"]),
                    session["name"],
                    position,
                )
                for exercise in session["exercises"]:
                    await connection.execute(
                        "INSERT INTO legacy_exercises VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        uuid.UUID(exercise["programExerciseId"]),
                        uuid.UUID(session["sessionId"]),
                        uuid.UUID(exercise["exerciseId"]),
                        exercise["name"],
                        exercise["orderIndex"],
                        exercise["supersetGroup"],
                        exercise["supersetOrder"],
                    )
                    for at, row in enumerate(exercise["prescriptionRows"]):
                        await connection.execute(
                            "INSERT INTO legacy_prescription_rows"
                            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                            uuid.UUID(exercise["programExerciseId"]),
                            row["week"],
                            at,
                            row["sets"],
                            row["reps"],
                            row["weight"],
                            row["rpe"],
                            row["restSeconds"],
                        )
        exported = [row[0] for row in await connection.fetch(export)]
    finally:
        await connection.close()
    source = tmp_path / "exported.jsonl"
    source.write_text("".join(text + "\n" for text in exported))
    assert [json.loads(text)["programId"] for text in exported] == sorted(
        line["programId"] for line in lines
    )

    done = await asyncio.to_thread(run_import, settings, str(source), cwd=tmp_path)

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "imported 3, already imported 0, rejected 0, unreadable 0" in done.stdout
    assert await count(database_url, "SELECT count(*) FROM prescriptions") == sum(
        prescriptions_of(line["program"]) for line in lines
    )


async def test_next_to_make_run_the_readmes_command_finds_its_broker(
    service: Service, settings: Settings, tmp_path: Path
) -> None:
    """`program-builder import FILE` as the README writes it, with no KAFKA_BOOTSTRAP_SERVERS:
    in the folder where `make run` runs, it reads the broker from `.data/dev.env`."""
    rng = random.Random(4)
    (tmp_path / "programs.jsonl").write_text(
        "".join(json.dumps(import_line(rng, TENANT)) + "\n" for _ in range(3))
    )
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "dev.env").write_text(
        f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}\n"
        f"KAFKA_ENABLE_IDEMPOTENCE={str(settings.kafka_enable_idempotence).lower()}\n"
    )
    environment = tool_env(settings)
    del environment["KAFKA_BOOTSTRAP_SERVERS"]
    environment.pop("KAFKA_ENABLE_IDEMPOTENCE", None)
    done = await asyncio.to_thread(
        run_import, settings, "programs.jsonl", cwd=tmp_path, env=environment
    )
    assert done.returncode == 0, done.stderr
    assert "imported 3, already imported 0, rejected 0, unreadable 0" in done.stdout
    assert f"using the running `make run` ({settings.kafka_bootstrap_servers}" in done.stderr
