"""Which of the service's files one `series.update` passes through, and which calls go from one
file to another: the service runs in this process on a local stack, a program is built through
Kafka, then every Python call is recorded while one `series.update` goes from the commands topic
to its result and its event. Prints JSON (files with their call counts, file-to-file calls).

    .venv/bin/python bench/call_path.py                       # this checkout
    PYTHONPATH=/tmp/old .venv/bin/python bench/call_path.py   # another checkout's service
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import service

ROOT = Path(service.__file__).resolve().parent  # the service package being traced


def rel(filename: str) -> str | None:
    path = Path(filename)
    try:
        return "service/" + str(path.resolve().relative_to(ROOT))
    except ValueError:
        return None


async def main() -> None:
    from devstack.stack import EmbeddedStack, choose_broker
    from service.config import Settings

    if (ROOT / "entrypoints").is_dir():  # before Shape IV
        from service.entrypoints.app import Service
        from service.entrypoints.client import ServiceClient
    else:
        from service.clients.client import ServiceClient
        from service.process.app import Service

    stack = EmbeddedStack(choice=choose_broker()).start()
    try:
        prefix = f"trace-{uuid.uuid4().hex[:6]}"
        env = {
            **os.environ,
            "DATABASE_URL": stack.postgres.url,
            "KAFKA_BOOTSTRAP_SERVERS": stack.broker.bootstrap_servers,
        }
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        settings = Settings(
            kafka_bootstrap_servers=stack.broker.bootstrap_servers,
            database_url=stack.postgres.url,
            topic_prefix=prefix,
            http_port=0,
            kafka_enable_idempotence=stack.broker.idempotent,
        )
        app = Service(settings).app
        await app.start()
        client = ServiceClient.of(settings, tenant_id="trace")
        await client.start()
        program, session, exercise = (str(uuid.uuid4()) for _ in range(3))
        for kind, fields in (
            ("program.create", {"name": "Block", "weeks": 1}),
            ("session.add", {"sessionId": session, "name": "Day 1"}),
            (
                "exercise.add",
                {
                    "sessionId": session,
                    "programExerciseId": exercise,
                    "exerciseId": str(uuid.uuid4()),
                    "name": "Squat",
                    "series": [{"reps": 5, "restSeconds": 120}],
                },
            ),
        ):
            command = client.command(kind, program, **fields)
            await client.send(command)
            await client.result(command["commandId"], timeout=60)
        await asyncio.sleep(2)  # everything before is published and settled

        files: dict[str, int] = {}
        edges: collections.Counter[tuple[str, str]] = collections.Counter()
        sequence: list[str] = []

        def profile(frame: Any, event: str, arg: object) -> None:
            if event != "call":
                return
            callee = rel(frame.f_code.co_filename)
            if callee is None:
                return
            files[callee] = files.get(callee, 0) + 1
            if not sequence or sequence[-1] != callee:
                sequence.append(callee)
            caller_frame = frame.f_back
            while caller_frame is not None and rel(caller_frame.f_code.co_filename) is None:
                caller_frame = caller_frame.f_back  # through asyncio and library frames
            if caller_frame is not None:
                caller = rel(caller_frame.f_code.co_filename)
                if caller != callee:
                    edges[(caller, callee)] += 1

        edit = client.command(
            "series.update",
            program,
            programExerciseId=exercise,
            index=0,
            set={"reps": 3, "restSeconds": 120},
        )
        threading.setprofile(profile)
        sys.setprofile(profile)
        await client.send(edit)
        await client.result(edit["commandId"], timeout=60)
        await client.wait_for(
            lambda: any(
                e.get("causationId") == edit["commandId"]
                for e in client.values(settings.topics.prescription_updated)
            ),
            30,
        )
        sys.setprofile(None)
        threading.setprofile(None)
        await client.stop()
        await app.stop()
        print(
            json.dumps(
                {
                    "root": str(ROOT),
                    "files": files,
                    "edges": [[a, b, n] for (a, b), n in edges.most_common()],
                    "sequence": sequence,
                },
                indent=1,
            )
        )
    finally:
        stack.stop()


asyncio.run(main())
